//! Integration tests, one binary so they link once.

mod writer;
