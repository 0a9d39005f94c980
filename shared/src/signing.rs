//! signing (being written).
