//! Tables on a local warehouse for unit tests.

use strata_format::catalog::{Catalog, Identifier};
use strata_format::schema::TableSchema;
use strata_format::table::Table;
use strata_format::types::DataType;

/// Table `db.t` in a warehouse at `dir`: `columns` (name, type), primary key `keys`.
pub async fn table(
    dir: &std::path::Path,
    columns: &[(&str, &str)],
    keys: &[&str],
    options: &[(&str, &str)],
) -> Table {
    let catalog = Catalog::open(dir.to_str().unwrap()).unwrap();
    catalog.create_database("db", true).await.unwrap();
    let schema = TableSchema::new_for_create(
        columns
            .iter()
            .map(|(name, t)| (*name, DataType::parse(t).unwrap())),
        vec![],
        keys.iter().map(|k| k.to_string()).collect(),
        options.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        None,
    )
    .unwrap();
    catalog
        .create_table(&Identifier::new("db", "t").unwrap(), schema)
        .await
        .unwrap()
}
