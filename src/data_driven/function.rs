//! `data_driven_attribution(path, converts)`: the aggregate that SQL models call to
//! solve the journeys' chain ([`super::chain`]). Over a set of journeys (each a path
//! of channels, as a list or as text joined by `' > '`, and whether it converts) it
//! returns one entry per model (`markov`, `shapley`) and channel: a list of structs
//! with `model`, `channel`, `journeys` (the journeys whose path holds the channel),
//! `removal_effect` and `share`, which SQL unnests into rows.
//!
//! Partial aggregates hand each other transition counts, which add, so the
//! function runs in parallel and on a cluster's executors like any aggregate.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Float64Builder, ListArray, StringArray,
    StringBuilder, StructArray, UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::chain::{From, To, Transitions};

/// The function's SQL name.
pub const DATA_DRIVEN_ATTRIBUTION: &str = "data_driven_attribution";

/// What joins the channels of a path given as text (`email > display`).
pub const PATH_SEPARATOR: &str = " > ";

/// `data_driven_attribution` as a function to register (every session and cluster
/// role has it).
pub fn data_driven_attribution_udaf() -> AggregateUDF {
    AggregateUDF::from(DataDrivenAttribution {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DataDrivenAttribution {
    signature: Signature,
}

/// One result entry: a model's figures for a channel.
fn effect_fields() -> Fields {
    Fields::from(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("channel", DataType::Utf8, false),
        Field::new("journeys", DataType::Int64, false),
        Field::new("removal_effect", DataType::Float64, false),
        Field::new("share", DataType::Float64, false),
    ])
}

/// One counted transition, as partial aggregates pass them: `from` null is
/// `start`; `to` null is absorption, in `conversion` when `conversion` is true.
fn transition_fields() -> Fields {
    Fields::from(vec![
        Field::new("from", DataType::Utf8, true),
        Field::new("to", DataType::Utf8, true),
        Field::new("conversion", DataType::Boolean, false),
        Field::new("count", DataType::UInt64, false),
    ])
}

/// How many journeys hold a channel, as partial aggregates pass them.
fn holding_fields() -> Fields {
    Fields::from(vec![
        Field::new("channel", DataType::Utf8, false),
        Field::new("journeys", DataType::UInt64, false),
    ])
}

fn list_of(fields: Fields) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(
        DataType::Struct(fields),
        true,
    )))
}

impl AggregateUDFImpl for DataDrivenAttribution {
    fn name(&self) -> &str {
        DATA_DRIVEN_ATTRIBUTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let text =
            |t: &DataType| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
        let path_ok = match args.first() {
            Some(DataType::List(item) | DataType::LargeList(item)) => text(item.data_type()),
            Some(other) => text(other),
            None => false,
        };
        if !path_ok || args.get(1) != Some(&DataType::Boolean) {
            return plan_err!(
                "{DATA_DRIVEN_ATTRIBUTION}(path, converts) takes the channels (a list, or text \
                 joined by '{PATH_SEPARATOR}') and a boolean, not {args:?}"
            );
        }
        Ok(list_of(effect_fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ChainAccumulator::default()))
    }

    fn state_fields(&self, _args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                "transitions",
                list_of(transition_fields()),
                true,
            )),
            Arc::new(Field::new("holding", list_of(holding_fields()), true)),
        ])
    }
}

#[derive(Debug, Default)]
struct ChainAccumulator {
    transitions: Transitions,
    /// Per channel, the journeys whose path holds it.
    holding: BTreeMap<String, u64>,
}

impl ChainAccumulator {
    fn add_journey(&mut self, channels: &[&str], converts: bool) {
        self.transitions.add_journey(channels, converts);
        let mut seen: Vec<&str> = channels.to_vec();
        seen.sort_unstable();
        seen.dedup();
        for channel in seen {
            *self.holding.entry(channel.to_string()).or_insert(0) += 1;
        }
    }
}

impl Accumulator for ChainAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let (Some(paths), Some(converts)) = (values.first(), values.get(1)) else {
            return exec_err!("{DATA_DRIVEN_ATTRIBUTION} takes two arguments");
        };
        let Some(converts) = converts.as_any().downcast_ref::<BooleanArray>() else {
            return exec_err!("{DATA_DRIVEN_ATTRIBUTION}: `converts` is not a boolean");
        };
        let converts_at = |row: usize| converts.is_valid(row) && converts.value(row);
        if matches!(
            paths.data_type(),
            DataType::List(_) | DataType::LargeList(_)
        ) {
            let paths = arrow::compute::cast(
                paths,
                &DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            )?;
            let paths: &ListArray = paths.as_list();
            for row in (0..paths.len()).filter(|row| paths.is_valid(*row)) {
                let path = paths.value(row);
                let path: &StringArray = path.as_string();
                let channels: Vec<&str> = path.iter().flatten().collect();
                self.add_journey(&channels, converts_at(row));
            }
        } else {
            let paths = arrow::compute::cast(paths, &DataType::Utf8)?;
            let paths: &StringArray = paths.as_string();
            for row in (0..paths.len()).filter(|row| paths.is_valid(*row)) {
                let text = paths.value(row);
                if text.is_empty() {
                    continue;
                }
                let channels: Vec<&str> = text.split(PATH_SEPARATOR).collect();
                self.add_journey(&channels, converts_at(row));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let effects = self.transitions.solve().map_err(|e| {
            datafusion::error::DataFusionError::Execution(format!("{DATA_DRIVEN_ATTRIBUTION}: {e}"))
        })?;
        let mut model = StringBuilder::new();
        let mut channel = StringBuilder::new();
        let mut journeys = arrow::array::Int64Builder::new();
        let mut removal = Float64Builder::new();
        let mut share = Float64Builder::new();
        for (name, entries) in [("markov", &effects.markov), ("shapley", &effects.shapley)] {
            for entry in entries {
                model.append_value(name);
                channel.append_value(&entry.channel);
                let held = self.holding.get(&entry.channel).copied().unwrap_or(0);
                journeys.append_value(i64::try_from(held).unwrap_or(i64::MAX));
                removal.append_value(entry.removal_effect);
                share.append_value(entry.share);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(model.finish()),
            Arc::new(channel.finish()),
            Arc::new(journeys.finish()),
            Arc::new(removal.finish()),
            Arc::new(share.finish()),
        ];
        let entries = StructArray::try_new(effect_fields(), columns, None)?;
        Ok(SingleRowListArrayBuilder::new(Arc::new(entries)).build_list_scalar())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + (self.transitions.iter().count() + self.holding.len()) * 64
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut from = StringBuilder::new();
        let mut to = StringBuilder::new();
        let mut conversion = BooleanBuilder::new();
        let mut count = UInt64Builder::new();
        for (f, t, n) in self.transitions.iter() {
            match f {
                From::Start => from.append_null(),
                From::Channel(c) => from.append_value(c),
            }
            match t {
                To::Channel(c) => {
                    to.append_value(c);
                    conversion.append_value(false);
                }
                To::Conversion => {
                    to.append_null();
                    conversion.append_value(true);
                }
                To::Null => {
                    to.append_null();
                    conversion.append_value(false);
                }
            }
            count.append_value(n);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(from.finish()),
            Arc::new(to.finish()),
            Arc::new(conversion.finish()),
            Arc::new(count.finish()),
        ];
        let entries = StructArray::try_new(transition_fields(), columns, None)?;
        let mut channel = StringBuilder::new();
        let mut held = UInt64Builder::new();
        for (name, count) in &self.holding {
            channel.append_value(name);
            held.append_value(*count);
        }
        let holding = StructArray::try_new(
            holding_fields(),
            vec![Arc::new(channel.finish()), Arc::new(held.finish())],
            None,
        )?;
        Ok(vec![
            SingleRowListArrayBuilder::new(Arc::new(entries)).build_list_scalar(),
            SingleRowListArrayBuilder::new(Arc::new(holding)).build_list_scalar(),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (Some(states), Some(holding)) = (states.first(), states.get(1)) else {
            return exec_err!("{DATA_DRIVEN_ATTRIBUTION}: no state to merge");
        };
        let holding: &ListArray = holding.as_list();
        for row in (0..holding.len()).filter(|row| holding.is_valid(*row)) {
            let entries = holding.value(row);
            let entries: &StructArray = entries.as_struct();
            let (Some(channel), Some(count)) = (
                entries.column(0).as_string_opt::<i32>(),
                entries.column(1).as_any().downcast_ref::<UInt64Array>(),
            ) else {
                return exec_err!("{DATA_DRIVEN_ATTRIBUTION}: a partial state of another shape");
            };
            for i in 0..entries.len() {
                *self
                    .holding
                    .entry(channel.value(i).to_string())
                    .or_insert(0) += count.value(i);
            }
        }
        let states: &ListArray = states.as_list();
        for row in 0..states.len() {
            if states.is_null(row) {
                continue;
            }
            let entries = states.value(row);
            let entries: &StructArray = entries.as_struct();
            let (Some(from), Some(to), Some(conversion), Some(count)) = (
                entries.column(0).as_string_opt::<i32>(),
                entries.column(1).as_string_opt::<i32>(),
                entries.column(2).as_boolean_opt(),
                entries.column(3).as_any().downcast_ref::<UInt64Array>(),
            ) else {
                return exec_err!("{DATA_DRIVEN_ATTRIBUTION}: a partial state of another shape");
            };
            for i in 0..entries.len() {
                let f = match from.is_null(i) {
                    true => From::Start,
                    false => From::Channel(from.value(i).to_string()),
                };
                let t = match (to.is_null(i), conversion.value(i)) {
                    (false, _) => To::Channel(to.value(i).to_string()),
                    (true, true) => To::Conversion,
                    (true, false) => To::Null,
                };
                self.transitions.add(f, t, count.value(i));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    // The four paths of the chain's hand-worked case, through SQL: several
    // partitions, so partial states are merged; results unnested as a model does.
    #[tokio::test]
    async fn solves_journeys_given_in_sql() {
        let ctx = SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_target_partitions(4),
        );
        ctx.register_udaf(data_driven_attribution_udaf());
        let sql = "
            with journeys as (
                select replace(path, '>', ' > ') as path, converts from (values
                    ('A>B>C', true), ('A', false), ('B>C', false), ('A>C', true)
                ) as j(path, converts)
            ),
            solved as (
                select unnest(data_driven_attribution(path, converts)) as effect from journeys
            )
            select effect['model'] as model, effect['channel'] as channel,
                   effect['removal_effect'] as removal_effect, effect['share'] as share,
                   effect['journeys'] as journeys
            from solved order by model, channel";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("| "))
            .skip(1)
            .collect();
        assert_eq!(rows.len(), 6, "{text}");
        assert!(
            rows[0].contains("markov") && rows[0].contains("| A "),
            "{text}"
        );
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let share = batch
            .column(3)
            .as_primitive::<arrow::datatypes::Float64Type>();
        let effect = batch
            .column(2)
            .as_primitive::<arrow::datatypes::Float64Type>();
        let expected_share = [
            2.0 / 7.0,
            2.0 / 7.0,
            3.0 / 7.0,
            5.0 / 18.0,
            5.0 / 18.0,
            4.0 / 9.0,
        ];
        let expected_effect = [2.0 / 3.0, 2.0 / 3.0, 1.0, 5.0 / 18.0, 5.0 / 18.0, 4.0 / 9.0];
        let journeys = batch
            .column(4)
            .as_primitive::<arrow::datatypes::Int64Type>();
        // A is in 3 of the 4 journeys (A>B>C, A, A>C), B in 2, C in 3.
        let expected_journeys = [3, 2, 3, 3, 2, 3];
        for i in 0..6 {
            assert_eq!(
                journeys.value(i),
                expected_journeys[i],
                "journeys {i}: {text}"
            );
            assert!(
                (share.value(i) - expected_share[i]).abs() < 1e-12,
                "share {i}: {text}"
            );
            assert!(
                (effect.value(i) - expected_effect[i]).abs() < 1e-12,
                "effect {i}: {text}"
            );
        }
    }
}
