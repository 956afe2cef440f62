//! The TPC-H suite: the eight tables generated in process at a scale factor
//! (`tpchgen`, the Rust port of `dbgen`, straight into Arrow: nothing downloaded)
//! and the 22 queries with the specification's validation parameters.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

use super::engine::common_types;
use super::workload::{Query, Step, Table, Workload, orders_its_result};
use crate::error::{Error, Result};

/// The 22 queries, by name.
const QUERIES: [(&str, &str); 22] = [
    ("q01", include_str!("tpch/q01.sql")),
    ("q02", include_str!("tpch/q02.sql")),
    ("q03", include_str!("tpch/q03.sql")),
    ("q04", include_str!("tpch/q04.sql")),
    ("q05", include_str!("tpch/q05.sql")),
    ("q06", include_str!("tpch/q06.sql")),
    ("q07", include_str!("tpch/q07.sql")),
    ("q08", include_str!("tpch/q08.sql")),
    ("q09", include_str!("tpch/q09.sql")),
    ("q10", include_str!("tpch/q10.sql")),
    ("q11", include_str!("tpch/q11.sql")),
    ("q12", include_str!("tpch/q12.sql")),
    ("q13", include_str!("tpch/q13.sql")),
    ("q14", include_str!("tpch/q14.sql")),
    ("q15", include_str!("tpch/q15.sql")),
    ("q16", include_str!("tpch/q16.sql")),
    ("q17", include_str!("tpch/q17.sql")),
    ("q18", include_str!("tpch/q18.sql")),
    ("q19", include_str!("tpch/q19.sql")),
    ("q20", include_str!("tpch/q20.sql")),
    ("q21", include_str!("tpch/q21.sql")),
    ("q22", include_str!("tpch/q22.sql")),
];

/// Rows per generated batch.
const BATCH_ROWS: usize = 64 * 1024;

/// The TPC-H workload at `scale_factor`, with the queries `only` names (all when
/// empty).
pub async fn workload(scale_factor: f64, only: &[String]) -> Result<Workload> {
    if scale_factor.is_nan() || scale_factor <= 0.0 {
        return Err(Error::Bench(format!(
            "--scale-factor {scale_factor}: TPC-H needs a scale factor above 0"
        )));
    }
    let sf = scale_factor;
    let generated: Vec<(&str, Vec<arrow::error::Result<RecordBatch>>)> = vec![
        (
            "region",
            RegionArrow::new(RegionGenerator::new(sf, 1, 1))
                .with_batch_size(BATCH_ROWS)
                .collect(),
        ),
        (
            "nation",
            NationArrow::new(NationGenerator::new(sf, 1, 1))
                .with_batch_size(BATCH_ROWS)
                .collect(),
        ),
        (
            "supplier",
            SupplierArrow::new(SupplierGenerator::new(sf, 1, 1))
                .with_batch_size(BATCH_ROWS)
                .collect(),
        ),
        (
            "customer",
            CustomerArrow::new(CustomerGenerator::new(sf, 1, 1))
                .with_batch_size(BATCH_ROWS)
                .collect(),
        ),
        (
            "part",
            PartArrow::new(PartGenerator::new(sf, 1, 1))
                .with_batch_size(BATCH_ROWS)
                .collect(),
        ),
        (
            "partsupp",
            PartSuppArrow::new(PartSuppGenerator::new(sf, 1, 1))
                .with_batch_size(BATCH_ROWS)
                .collect(),
        ),
        (
            "orders",
            OrderArrow::new(OrderGenerator::new(sf, 1, 1))
                .with_batch_size(BATCH_ROWS)
                .collect(),
        ),
        (
            "lineitem",
            LineItemArrow::new(LineItemGenerator::new(sf, 1, 1))
                .with_batch_size(BATCH_ROWS)
                .collect(),
        ),
    ];
    let schemas = [
        RegionArrow::schema_ref(),
        NationArrow::schema_ref(),
        SupplierArrow::schema_ref(),
        CustomerArrow::schema_ref(),
        PartArrow::schema_ref(),
        PartSuppArrow::schema_ref(),
        OrderArrow::schema_ref(),
        LineItemArrow::schema_ref(),
    ];
    let mut tables = Vec::new();
    for ((name, batches), schema) in generated.into_iter().zip(schemas) {
        let batches = batches
            .into_iter()
            .collect::<arrow::error::Result<Vec<_>>>()?;
        let (schema, batches) = common_types(&Arc::clone(&schema), &batches)?;
        tables.push(Table {
            name: name.to_string(),
            schema,
            batches,
        });
    }
    let planner = crate::engine::new_session();
    for table in &tables {
        let provider =
            datafusion::datasource::MemTable::try_new(Arc::clone(&table.schema), vec![vec![]])?;
        planner.register_table(table.name.as_str(), Arc::new(provider))?;
    }
    let mut queries = Vec::new();
    for (name, sql) in QUERIES {
        if !only.is_empty() && !only.iter().any(|q| q == name) {
            continue;
        }
        queries.push(Query {
            name: name.to_string(),
            ordered: orders_its_result(&planner, sql).await,
            steps: vec![Step::select(sql.to_string())],
            answer_tables: Vec::new(),
        });
    }
    Ok(Workload {
        suite: "tpch".into(),
        data: format!("TPC-H SF {scale_factor} (tpchgen {})", TPCHGEN_VERSION),
        tables,
        queries,
    })
}

/// The generator's version, for the report.
const TPCHGEN_VERSION: &str = "4.0";
