//! The local web UI (being written).
