//! The daemon end to end (filled in below).
