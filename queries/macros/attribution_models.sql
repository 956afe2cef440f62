{#-
    The attribution models, each defined once: its name and the
    credit it gives one touchpoint of an order with at least one touch, from
    `touch_position` (1..n by touched_at, touchpoint_id), `touch_count` (n),
    `decay_weight` and `decay_weight_total`. Every model credits an order without
    touches wholly to `direct`. `int_attribution_models` lists these names and
    `fct_attribution` computes these credits on its full and incremental paths.
    A new model is one more entry here: the contracts check `model` against
    `int_attribution_models`.
-#}
{%- set attribution_models = [
    ('first_touch', "case when touch_position = 1 then 1.0 else 0.0 end"),
    ('last_touch', "case when touch_position = touch_count then 1.0 else 0.0 end"),
    ('linear', "1.0 / touch_count"),
    ('time_decay', "decay_weight / decay_weight_total"),
    ('position_based', "case
            when touch_count = 1 then 1.0
            when touch_count = 2 then 0.5
            when touch_position = 1 or touch_position = touch_count then 0.4
            else 0.2 / (touch_count - 2)
        end"),
] -%}

{#- One credit column per model; `direct_when` is a condition under which the
    order has no touch and every model gives it all (none on a path that credits
    `direct` separately). -#}
{% macro credit_columns(direct_when=none) -%}
{%- for name, credit in attribution_models %}
        {% if direct_when %}case when {{ direct_when }} then 1.0 else {{ credit }} end{% else %}{{ credit }}{% endif %} as {{ name }}{% if not loop.last %},{% endif %}
{%- endfor %}
{%- endmacro %}

{#- The credit of the model named in `model_column`, from the credit columns of `credits`. -#}
{% macro credit_of(model_column, credits) -%}
case {{ model_column }}
{%- for name, _ in attribution_models %}
            when '{{ name }}' then {{ credits }}.{{ name }}
{%- endfor %}
        end
{%- endmacro %}

{#- The model names as a VALUES list. -#}
{% macro model_values() -%}
{%- for name, _ in attribution_models %}('{{ name }}'){% if not loop.last %}, {% endif %}{% endfor %}
{%- endmacro %}
