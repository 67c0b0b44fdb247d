//! Values and their binary encodings: [`Datum`], Paimon's BinaryRow, and the bucket hash.

pub mod binary_row;
pub mod bucket;
mod datum;

pub use datum::Datum;
