//! A Parquet records file read back through the crate's own reader, each row as one line
//! of text (columns tab-separated, null as `-`), so files can be compared and counted.

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Every row of the file, in file order. Panics when the file is not complete (no
/// footer): that is what the callers check.
pub fn rows(path: &Path) -> Vec<String> {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| panic!("{}: not a complete Parquet file: {e}", path.display()))
        .build()
        .expect("parquet reader");
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.expect("record batch");
        for i in 0..batch.num_rows() {
            let cells: Vec<String> = batch.columns().iter().map(|c| cell(c, i)).collect();
            out.push(cells.join("\t"));
        }
    }
    out
}

fn cell(col: &dyn Array, i: usize) -> String {
    if col.is_null(i) {
        return "-".to_string();
    }
    if let Some(a) = col.as_string_opt::<i32>() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_primitive_opt::<Int64Type>() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_primitive_opt::<Int32Type>() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_primitive_opt::<Float64Type>() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_primitive_opt::<TimestampMicrosecondType>() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_boolean_opt() {
        a.value(i).to_string()
    } else if let Some(a) = col.as_list_opt::<i32>() {
        let items = a.value(i);
        let items = items.as_string::<i32>();
        (0..items.len())
            .map(|j| items.value(j).to_string())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        panic!("unexpected column type {}", col.data_type())
    }
}
