{{ config(materialized='view') }}
{% from 'macros/attribution_models.sql' import model_values %}
-- The attribution models (macros/attribution_models.sql), one row each.

select model
from (
    values {{ model_values() }}
) as models (model)
