{#-
    merged_path(channel, previous, ordering): a journey's path as text, its
    channels in `ordering` joined by ' > ', with consecutive repeats of a channel
    merged into one (`email > email > display` is `email > display`; repeats apart
    stay). `previous` is the channel of the step before, from
    `lag(channel) over (... order by <ordering>)`: a step repeats when it equals it.
    An aggregate: use it with a GROUP BY of the journey.
-#}
{% macro merged_path(channel, previous, ordering) -%}
array_to_string(
            array_agg({{ channel }} order by {{ ordering }})
                filter (where {{ previous }} is null or {{ previous }} <> {{ channel }}),
            ' > '
        )
{%- endmacro %}
