//! Data-driven attribution (SPEC 3a): the Markov-chain removal effect and the
//! Shapley value of the journeys' conversion probability, solved exactly. The
//! journeys themselves are SQL models (`queries/intermediate/int_*journeys.sql`);
//! this module is the math ([`chain`]) and the aggregate SQL calls to run it
//! ([`function`]).

pub mod chain;
pub mod function;

pub use function::{DATA_DRIVEN_ATTRIBUTION, data_driven_attribution_udaf};
