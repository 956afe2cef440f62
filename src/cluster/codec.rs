//! How stride's own plan parts cross the wire between the client, the scheduler
//! and the executors; everything else goes through Ballista's own codecs. The
//! same pair is installed in every role.
//!
//! - Logical (client → scheduler): a [`DeltaScan`] as its [`ScanSpec`] (JSON), a
//!   [`ChangeFeedScan`] as its [`FeedSpec`] (JSON), and an in-memory table (the
//!   set-aside `_seq`s of a raw table, an empty change feed) as Arrow IPC.
//! - Physical (scheduler → executors): a [`DeletionVectorsExec`] as its file →
//!   rows map (JSON); its Parquet scan goes as DataFusion's own node.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use serde::{Deserialize, Serialize};

use super::change_feed::{ChangeFeedScan, FeedSpec};
use super::delta_scan::{DeletionVectorsExec, DeltaScan, RowsOfFile, ScanSpec};

/// Marks stride's payloads. `0xFF` cannot start a protobuf message (wire type 7),
/// so Ballista's decoder, tried first by nothing, could never mistake one.
const MAGIC: &[u8] = b"\xFFSTRIDE";

/// What follows [`MAGIC`].
#[repr(u8)]
enum Kind {
    DeltaScan = 1,
    MemoryTable = 2,
    DeletionVectors = 3,
    ChangeFeed = 4,
}

fn tagged(kind: Kind, buf: &mut Vec<u8>) {
    buf.extend_from_slice(MAGIC);
    buf.push(kind as u8);
}

/// The kind and payload of a stride buffer; `None` for anyone else's.
fn untagged(buf: &[u8]) -> Option<(u8, &[u8])> {
    let rest = buf.strip_prefix(MAGIC)?;
    let (kind, payload) = rest.split_first()?;
    Some((*kind, payload))
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The logical codec: stride's tables, then Ballista's.
#[derive(Debug, Default)]
pub struct StrideLogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for StrideLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> DfResult<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        match untagged(buf) {
            Some((kind, payload)) if kind == Kind::DeltaScan as u8 => {
                let spec: ScanSpec = serde_json::from_slice(payload).map_err(external)?;
                Ok(Arc::new(DeltaScan::from_spec(spec, schema)))
            }
            Some((kind, payload)) if kind == Kind::ChangeFeed as u8 => {
                let spec: FeedSpec = serde_json::from_slice(payload).map_err(external)?;
                Ok(Arc::new(ChangeFeedScan::from_spec(spec, schema)))
            }
            Some((kind, payload)) if kind == Kind::MemoryTable as u8 => {
                let reader = StreamReader::try_new(payload, None)?;
                let batches = reader.collect::<Result<Vec<RecordBatch>, _>>()?;
                Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
            }
            Some((kind, _)) => Err(DataFusionError::Internal(format!(
                "table {table_ref}: unknown stride table kind {kind} (are all roles the same stride?)"
            ))),
            None => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        if let Some(scan) = node.downcast_ref::<DeltaScan>() {
            tagged(Kind::DeltaScan, buf);
            serde_json::to_writer(buf, scan.spec()).map_err(external)?;
            return Ok(());
        }
        if let Some(feed) = node.downcast_ref::<ChangeFeedScan>() {
            tagged(Kind::ChangeFeed, buf);
            serde_json::to_writer(buf, feed.spec()).map_err(external)?;
            return Ok(());
        }
        if let Some(table) = node.downcast_ref::<MemTable>() {
            tagged(Kind::MemoryTable, buf);
            let schema = table.schema();
            let mut writer = StreamWriter::try_new(buf, &schema)?;
            for partition in &table.batches {
                let batches = partition.try_read().map_err(|_| {
                    DataFusionError::Internal(format!("table {table_ref} is being written"))
                })?;
                for batch in batches.iter() {
                    writer.write(batch)?;
                }
            }
            writer.finish()?;
            return Ok(());
        }
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> DfResult<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

/// The physical codec: stride's nodes, then Ballista's (shuffles and the rest).
#[derive(Debug, Default)]
pub struct StridePhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

/// A [`DeletionVectorsExec`] on the wire (its input travels as a child).
#[derive(Serialize, Deserialize)]
struct DeletionVectorsNode {
    model: String,
    deletion_vectors: BTreeMap<String, RowsOfFile>,
}

impl PhysicalExtensionCodec for StridePhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match untagged(buf) {
            Some((kind, payload)) if kind == Kind::DeletionVectors as u8 => {
                let node: DeletionVectorsNode =
                    serde_json::from_slice(payload).map_err(external)?;
                let [input] = inputs else {
                    return Err(DataFusionError::Internal(format!(
                        "DeletionVectorsExec of {} arrived with {} inputs",
                        node.model,
                        inputs.len()
                    )));
                };
                Ok(Arc::new(DeletionVectorsExec::new(
                    node.model,
                    Arc::new(node.deletion_vectors),
                    Arc::clone(input),
                )))
            }
            Some((kind, _)) => Err(DataFusionError::Internal(format!(
                "unknown stride plan node kind {kind} (are all roles the same stride?)"
            ))),
            None => self.inner.try_decode(buf, inputs, ctx, proto_converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        if let Some(exec) = node.downcast_ref::<DeletionVectorsExec>() {
            tagged(Kind::DeletionVectors, buf);
            let wire = DeletionVectorsNode {
                model: exec.model().to_string(),
                deletion_vectors: exec.deletion_vectors().clone(),
            };
            serde_json::to_writer(buf, &wire).map_err(external)?;
            return Ok(());
        }
        self.inner.try_encode(node, buf, proto_converter)
    }
}
