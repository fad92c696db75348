//! Service limits: what a remote accepts, published by the server at `GET /api/v1/limits` so clients can fit them.
//!
//! Limits are data with documented defaults, never literals in code. [`ServiceLimits::azure`] is Azure ML's published
//! metric limits as one profile. This module knows nothing about HTTP or storage.

use serde::{Deserialize, Serialize};

/// The limits a remote enforces. Every field documents its default ([`ServiceLimits::default`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceLimits {
    /// Most distinct metric names (scalars, rows, tables, images, texts) per run. Default 10,000.
    pub max_names_per_run: u64,
    /// Most rows per metric name of a run (a scalar point, a row, a table row, an image or a text is one row).
    /// Default 100,000,000.
    pub max_rows_per_name: u64,
    /// Most columns in one row or table. Default 1,024.
    pub max_columns_per_row: u64,
    /// Longest metric, column, param, tag, property or file name, in characters. Default 255.
    pub max_name_chars: u64,
    /// Longest string value (row and table cells, params, tags, properties), in characters. Default 1,048,576.
    pub max_value_chars: u64,
    /// Most rows in one batch (records count their rows; a record that is not a metric counts 1). Default 1,000,000.
    pub max_rows_per_batch: u64,
    /// Largest request body, in bytes (batches; blobs have their own limit). Default 16 MiB.
    pub max_request_bytes: u64,
    /// Largest blob (image or file), in bytes. Default 1 GiB.
    pub max_blob_bytes: u64,
    /// Requests per second per token, sustained (a token bucket). Default 1,000.
    pub max_requests_per_second: u64,
    /// Requests a token may send at once above the sustained rate (the bucket's size). Default 2,000.
    pub request_burst: u64,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        ServiceLimits {
            max_names_per_run: 10_000,
            max_rows_per_name: 100_000_000,
            max_columns_per_row: 1_024,
            max_name_chars: 255,
            max_value_chars: 1 << 20,
            max_rows_per_batch: 1_000_000,
            max_request_bytes: 16 << 20,
            max_blob_bytes: 1 << 30,
            max_requests_per_second: 1_000,
            request_burst: 2_000,
        }
    }
}

impl ServiceLimits {
    /// Azure ML's published metric limits: 50 metric names per run, 1,000,000 rows per name, 15 columns per row,
    /// 255-character names and values, 250 rows per batch. The other limits keep their defaults.
    pub fn azure() -> Self {
        ServiceLimits {
            max_names_per_run: 50,
            max_rows_per_name: 1_000_000,
            max_columns_per_row: 15,
            max_name_chars: 255,
            max_value_chars: 255,
            max_rows_per_batch: 250,
            ..ServiceLimits::default()
        }
    }

    /// An MLflow tracking server's `runs/log-batch` limits as the agent sees them: 1,000 rows and 1 MB per batch,
    /// 250-character keys, 6,000-character values, no limit on names per run. The MLflow remote
    /// (`remote::mlflow`) also fits 100 params and 100 tags per request and keeps params write-once.
    pub fn mlflow() -> Self {
        ServiceLimits {
            max_names_per_run: u64::MAX,
            max_rows_per_name: u64::MAX,
            max_columns_per_row: 1_000,
            max_name_chars: 250,
            max_value_chars: 6_000,
            max_rows_per_batch: 1_000,
            max_request_bytes: 1_000_000,
            ..ServiceLimits::default()
        }
    }

    /// A named profile: `default`, `azure` or `mlflow`.
    pub fn profile(name: &str) -> Option<Self> {
        match name {
            "default" => Some(ServiceLimits::default()),
            "azure" => Some(ServiceLimits::azure()),
            "mlflow" => Some(ServiceLimits::mlflow()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_profile_has_the_published_numbers() {
        let a = ServiceLimits::azure();
        assert_eq!(
            (a.max_names_per_run, a.max_rows_per_name, a.max_columns_per_row, a.max_name_chars, a.max_value_chars),
            (50, 1_000_000, 15, 255, 255)
        );
        assert_eq!(a.max_rows_per_batch, 250);
    }

    #[test]
    fn mlflow_profile_has_the_log_batch_limits() {
        let m = ServiceLimits::profile("mlflow").expect("named profile");
        assert_eq!(
            (m.max_rows_per_batch, m.max_request_bytes, m.max_name_chars, m.max_value_chars),
            (1_000, 1_000_000, 250, 6_000)
        );
    }

    #[test]
    fn missing_fields_take_their_defaults() {
        let l: ServiceLimits = serde_json::from_str(r#"{"max_rows_per_batch": 7}"#).expect("parse");
        assert_eq!(l.max_rows_per_batch, 7);
        assert_eq!(l.max_names_per_run, ServiceLimits::default().max_names_per_run);
    }
}
