//! `diff` as a builder, as delta-rs's operations are: `lakehouse.diff(model)
//! .from(v).to(w).key(k).examples(n).await`.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use super::Lakehouse;
use crate::compare::{self, Diff, DiffRequest, Point};
use crate::error::Result;

/// What changed in one model between two versions, once awaited.
#[derive(Debug)]
pub struct DiffBuilder<'a> {
    lakehouse: &'a Lakehouse,
    model: &'a str,
    request: DiffRequest,
}

impl<'a> DiffBuilder<'a> {
    /// The model's last change, matched on its key, with 5 example rows.
    pub(super) fn new(lakehouse: &'a Lakehouse, model: &'a str) -> DiffBuilder<'a> {
        DiffBuilder {
            lakehouse,
            model,
            request: DiffRequest {
                examples: 5,
                ..DiffRequest::default()
            },
        }
    }

    /// The older version (`None`: the one before the newer one's data commit).
    pub fn from(mut self, point: Option<Point>) -> Self {
        self.request.from = point;
        self
    }

    /// The newer version (`None`: the latest).
    pub fn to(mut self, point: Option<Point>) -> Self {
        self.request.to = point;
        self
    }

    /// Match rows on these columns (`None`: the model's key).
    pub fn key(mut self, columns: Option<Vec<String>>) -> Self {
        self.request.key = columns;
        self
    }

    /// Example rows per kind of change.
    pub fn examples(mut self, examples: usize) -> Self {
        self.request.examples = examples;
        self
    }
}

impl<'a> IntoFuture for DiffBuilder<'a> {
    type Output = Result<Diff>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Diff>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let DiffBuilder {
            lakehouse: h,
            model,
            request,
        } = self;
        Box::pin(
            async move { compare::diff(&h.lake, &h.project, &h.contracts, model, request).await },
        )
    }
}
