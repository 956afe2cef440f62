{#-
    changed_keys(feed, key, columns): the keys whose rows a change data feed (from
    `changes(ref(...))`) shows as new (no image before the key's first change), gone
    (no image after its last change), or holding two values of one of `columns`.
    Over several commits the first image is the state the reader last saw and the
    last image the state now; a key that changed and changed back counts as changed,
    which only costs a recomputation.
-#}
{% macro changed_keys(feed, key, columns) -%}
select images.{{ key }}
from (
    select
        feed.*,
        min(feed._commit_version) over (partition by feed.{{ key }}) as first_version,
        max(feed._commit_version) over (partition by feed.{{ key }}) as last_version
    from {{ feed }} as feed
) as images
group by images.{{ key }}
having
    max(case when images._commit_version = images.first_version
        and images._change_type in ('delete', 'update_preimage') then 1 else 0 end) = 0
    or max(case when images._commit_version = images.last_version
        and images._change_type in ('insert', 'update_postimage') then 1 else 0 end) = 0
{%- for column in columns %}
    or count(distinct images.{{ column }}) > 1
{%- endfor %}
{%- endmacro %}
