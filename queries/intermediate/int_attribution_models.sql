{{ config(materialized='view') }}
-- The five attribution models of SPEC section 3, one row each.

select model
from (
    values ('first_touch'), ('last_touch'), ('linear'), ('time_decay'), ('position_based')
) as models (model)
