//! Deletion-vector maintenance during compaction (see `spec/deletion-vectors.md`).
