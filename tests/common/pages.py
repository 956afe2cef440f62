"""What stride serve's pages show, read from a real headless Chromium.

Usage: python pages.py SCENARIO BASE_URL OUT_DIR [ARGS...]; prints one JSON object.
The Rust tests (tests/ui.rs) compare it with what the command line says; this
script only reads the pages (from the DOM, never from the API) and drives them.

Scenarios:
  tour          every page: load time, errors, screenshots (wide and narrow),
                lineage nodes, mart states, each analysis table, the latest run's Gantt
  states        the marts' and lineage nodes' states
  run-now       clicks "Run now" and follows the run on the page until it ends
  run RUN_ID    the Gantt, checked files and errors of run RUN_ID
  time-travel MODEL VERSION   the rows the model page shows at VERSION
  token TOKEN   a server with a token: the page asks for it, then works
  compare MODEL FROM TO   the model page's diff of two versions, then a verify
                started on the overview and followed to its end
  measure N     each page loaded N times: milliseconds to its data on screen
"""

import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import browser  # noqa: E402

PAGES = [
    ("overview", "/"),
    ("lineage", "/lineage"),
    ("runs", "/runs"),
    ("marts", "/marts"),
    ("quarantine", "/quarantine"),
    ("model", "/models/fct_orders"),
]


def ready(driver, timeout=60):
    """Waits until the page has its data (or an error) on screen."""
    browser.wait(driver, 'main[data-ready="true"]', timeout)


def errors_shown(driver):
    return [e.text for e in driver.find_elements("css selector", ".error-box")]


def ready_ms(driver):
    """Milliseconds from navigation start to the page's data on screen."""
    return driver.execute_script(
        "const m = performance.getEntriesByType('mark').find(m => m.name.startsWith('stride:ready'));"
        "return m ? m.startTime : null;"
    )


def table_values(driver, css):
    """A table's columns and rows, each cell's exact value from data-value."""
    return driver.execute_script(
        """
        const table = document.querySelector(arguments[0]);
        if (!table) return null;
        const columns = [...table.querySelectorAll('thead th')].map(th => th.textContent);
        const rows = [...table.querySelectorAll('tbody tr')].map(tr =>
            [...tr.querySelectorAll('td')].map(td => td.dataset.value === undefined ? td.textContent : JSON.parse(td.dataset.value)));
        return {columns, rows};
        """,
        css,
    )


def states(driver, base):
    driver.get(base + "/")
    ready(driver)
    marts = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('table[data-table=marts] tbody tr')]"
        ".map(tr => [tr.dataset.name, tr.dataset.state]));"
    )
    sources = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('table[data-table=sources] tbody tr')]"
        ".map(tr => [tr.dataset.name, tr.dataset.state]));"
    )
    driver.get(base + "/lineage")
    ready(driver)
    nodes = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('svg.lineage g.node')]"
        ".map(g => [g.dataset.id, g.dataset.state]));"
    )
    return {"marts": marts, "sources": sources, "lineage": nodes, "errors": errors_shown(driver)}


def gantt(driver, base, run_id):
    driver.get(f"{base}/runs/{run_id}")
    ready(driver)
    browser.wait_js(driver, "!['queued','started'].includes(document.querySelector('main').dataset.status)", 120)
    browser.wait(driver, "#run-log", 30)
    rows = driver.execute_script(
        """return [...document.querySelectorAll('.gantt-row[data-model]')].map(r => ({
            model: r.dataset.model, action: r.dataset.action,
            error: r.querySelector('.gantt-error')?.textContent || null,
            left: parseFloat(r.querySelector('.gantt-bar').style.left),
            width: parseFloat(r.querySelector('.gantt-bar').style.width)}));"""
    )
    checked = table_values(driver, "table[data-table=checked]")
    return {"run_id": run_id, "gantt": rows, "checked": checked, "errors": errors_shown(driver)}


def lineage_tripled(driver):
    """Draws the project's graph three times over (every node and edge copied
    three times, the copies wired among themselves) with the page's own code, in
    place of the page's graph; returns how many nodes it drew and how many overlap."""
    return driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        (async () => {
            const {lineageGraph} = await import('/assets/lineage.js');
            const graph = await (await fetch('/api/lineage')).json();
            const copies = ['', '_b', '_c'];
            const nodes = copies.flatMap(c => graph.nodes.map(n => ({...n, id: n.id + c, name: n.name + c})));
            const edges = copies.flatMap(c => graph.edges.map(e => ({from: e.from + c, to: e.to + c})));
            const card = document.querySelector('svg.lineage').closest('section');
            card.replaceChildren(lineageGraph({nodes, edges}, () => {}));
            const boxes = [...card.querySelectorAll('g.node rect')].map(r => r.getBoundingClientRect());
            let overlaps = 0;
            for (let i = 0; i < boxes.length; i++)
                for (let j = i + 1; j < boxes.length; j++) {
                    const a = boxes[i], b = boxes[j];
                    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
                }
            const fonts = [...card.querySelectorAll('g.node text.name')].map(t => t.getBoundingClientRect().height);
            done({nodes: boxes.length, overlaps, smallest_text_px: Math.min(...fonts)});
        })().catch(e => done({error: String(e)}));
        """
    )


def tour(driver, base, out):
    result = {"pages": {}}
    for name, path in PAGES:
        driver.get(base + path)
        ready(driver)
        result["pages"][name] = {"ready_ms": ready_ms(driver), "errors": errors_shown(driver)}
        browser.screenshot(driver, out, name)
    result.update(states(driver, base))
    # Lighting a node's lineage (what it reads, what reads it).
    driver.get(base + "/lineage")
    ready(driver)
    from selenium.webdriver.common.action_chains import ActionChains

    node = driver.find_element("css selector", 'g.node[data-id="fct_orders"]')
    ActionChains(driver).move_to_element(node).perform()
    result["lit"] = driver.execute_script(
        "return {up: [...document.querySelectorAll('g.node.upstream')].map(g => g.dataset.id),"
        " down: [...document.querySelectorAll('g.node.downstream')].map(g => g.dataset.id)};"
    )
    browser.screenshot(driver, out, "lineage-selected")
    result["lineage_3x"] = lineage_tripled(driver)
    browser.screenshot(driver, out, "lineage-3x")
    # The marts: every analysis table, both attribution windows.
    driver.get(base + "/marts")
    ready(driver)
    analyses = {}
    for window in driver.execute_script("return [...document.querySelectorAll('[data-window]')].map(b => b.dataset.window);"):
        driver.find_element("css selector", f'[data-window="{window}"]').click()
        browser.wait(driver, f'table[data-table="{window}"]')
        analyses[window] = table_values(driver, f'table[data-table="{window}"]')
    for name in driver.execute_script("return [...document.querySelectorAll('table.data[data-table]')].map(t => t.dataset.table);"):
        analyses.setdefault(name, table_values(driver, f'table[data-table="{name}"]'))
    result["analyses"] = analyses
    # The newest run's page.
    driver.get(base + "/runs")
    ready(driver)
    run_id = driver.find_element("css selector", "tr[data-run-id]").get_attribute("data-run-id")
    result["run"] = gantt(driver, base, run_id)
    browser.screenshot(driver, out, "run")
    # A narrow window.
    driver.set_window_size(420, 900)
    for name, path in PAGES + [("run", f"/runs/{run_id}")]:
        driver.get(base + path)
        ready(driver)
        result["pages"][f"{name}-narrow"] = {
            "ready_ms": ready_ms(driver),
            "errors": errors_shown(driver),
            "overflows": driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 1;"),
        }
        if name in ("overview", "run"):
            browser.screenshot(driver, out, f"{name}-narrow")
    return result


def run_now(driver, base, out):
    driver.get(base + "/")
    ready(driver)
    driver.find_element("css selector", "#run-now").click()
    browser.wait(driver, "#live-run[data-run-id]", 30)
    run_id = driver.find_element("css selector", "#live-run").get_attribute("data-run-id")
    seen = set()
    deadline = time.time() + 300
    while time.time() < deadline:
        status = driver.find_element("css selector", "#live-run").get_attribute("data-status")
        seen.add(status)
        if status not in ("queued", "started"):
            break
        time.sleep(0.2)
    browser.screenshot(driver, out, "run-now")
    step = driver.find_element("css selector", "#live-run .live-step").text
    return {"run_id": run_id, "status": status, "seen": sorted(seen), "step": step, "errors": errors_shown(driver)}


def time_travel(driver, base, model, version):
    driver.get(f"{base}/models/{model}")
    ready(driver)
    picker = driver.find_element("css selector", "select#version")
    from selenium.webdriver.support.ui import Select

    Select(picker).select_by_value(str(version))
    browser.wait(driver, f'#time-travel[data-version="{version}"][data-loading="false"]', 30)
    result = table_values(driver, 'table[data-table="rows"]')
    result["command"] = driver.find_element("css selector", "#rows-command").text
    result["errors"] = errors_shown(driver)
    return result


def compare(driver, base, out, model, first, second):
    from selenium.webdriver.support.ui import Select

    driver.get(f"{base}/models/{model}")
    ready(driver)
    Select(driver.find_element("css selector", "select#diff-from")).select_by_value(str(first))
    Select(driver.find_element("css selector", "select#diff-to")).select_by_value(str(second))
    driver.find_element("css selector", "#diff-run").click()
    browser.wait(driver, f'#diff[data-to="{second}"][data-loading="false"]', 60)
    summary = driver.find_element("css selector", "#diff .compare-summary")
    counts = {k: int(summary.get_attribute(f"data-{k}")) for k in ("added", "removed", "changed")}
    examples = [
        {"kind": row.get_attribute("data-kind"), "key": row.get_attribute("data-key"), "column": row.get_attribute("data-column")}
        for row in driver.find_elements("css selector", 'table[data-table="compare-examples"] tbody tr')
    ]
    command = driver.find_element("css selector", "#diff-command").text
    browser.screenshot(driver, out, "compare")
    diff_errors = errors_shown(driver)

    driver.get(base + "/")
    ready(driver)
    browser.wait(driver, "#verify[data-running]", 30)
    before = driver.find_element("css selector", "#verify").get_attribute("data-id")
    driver.find_element("css selector", "#verify-run").click()
    browser.wait_js(
        driver,
        "(() => { const c = document.querySelector('#verify');"
        f" return c && c.dataset.running === 'false' && c.dataset.id && c.dataset.id !== {json.dumps(before or '')}; }})()",
        300,
    )
    card = driver.find_element("css selector", "#verify")
    browser.screenshot(driver, out, "verify")
    return {
        "counts": counts,
        "examples": examples,
        "command": command,
        "verdict": card.get_attribute("data-verdict"),
        "verify_id": card.get_attribute("data-id"),
        "errors": diff_errors + errors_shown(driver),
    }


def token(driver, base, secret):
    driver.get(base + "/")
    dialog = browser.wait(driver, "#token-dialog", 30)
    driver.find_element("css selector", "#token-input").send_keys(secret)
    driver.find_element("css selector", "#token-save").click()
    browser.wait(driver, "table[data-table=marts]", 30)
    ready(driver)
    return {"asked": dialog is not None, "errors": errors_shown(driver)}


def measure(driver, base, repeats):
    """Each page loaded `repeats` times, alternating pages: ms to data on screen."""
    times = {name: [] for name, _ in PAGES}
    for _ in range(repeats):
        for name, path in PAGES:
            driver.get(base + path)
            ready(driver)
            times[name].append(ready_ms(driver))
    return {"ready_ms": times}


def main():
    scenario, base, out = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
    args = sys.argv[4:]
    driver = browser.open(out)
    try:
        if scenario == "tour":
            result = tour(driver, base, out)
        elif scenario == "states":
            result = states(driver, base)
        elif scenario == "run-now":
            result = run_now(driver, base, out)
        elif scenario == "run":
            result = gantt(driver, base, args[0])
            browser.screenshot(driver, out, f"run-{args[0]}")
        elif scenario == "time-travel":
            result = time_travel(driver, base, args[0], int(args[1]))
        elif scenario == "measure":
            result = measure(driver, base, int(args[0]))
        elif scenario == "compare":
            result = compare(driver, base, out, args[0], int(args[1]), int(args[2]))
        elif scenario == "token":
            result = token(driver, base, args[0])
        else:
            raise SystemExit(f"no scenario {scenario}")
        result["console_errors"] = [e["message"] for e in browser.console_errors(driver)]
        result["foreign_requests"] = browser.foreign_requests(driver, base)
    finally:
        browser.close(driver)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
