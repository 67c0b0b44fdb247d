//! Parsing and printing Paimon type strings. (Stub: filled in by the types work.)
