//! The filesystem catalog: databases are `<name>.db/` directories of the warehouse, tables
//! are directories holding `schema/schema-0…`. Compatible with Paimon's filesystem catalog.

use std::fmt;

use bytes::Bytes;

use crate::error::{Error, ErrorKind, Result};
use crate::paths::{self, TablePaths};
use crate::schema::TableSchema;
use crate::storage::Storage;
use crate::table::Table;

/// Paimon reserves this database name for system tables.
pub const SYSTEM_DATABASE: &str = "sys";

/// `database.table`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier {
    pub database: String,
    pub table: String,
}

impl Identifier {
    pub fn new(database: impl Into<String>, table: impl Into<String>) -> Result<Self> {
        let id = Identifier {
            database: database.into(),
            table: table.into(),
        };
        paths::validate_name("database", &id.database)?;
        paths::validate_name("table", &id.table)?;
        Ok(id)
    }

    /// Parses `DB.T`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.split_once('.') {
            Some((db, t)) if !t.contains('.') => Identifier::new(db, t),
            _ => Err(Error::data_invalid(format!(
                "table name '{s}' must be of the form DATABASE.TABLE"
            ))),
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// A warehouse: its databases and tables.
#[derive(Debug, Clone)]
pub struct Catalog {
    storage: Storage,
}

impl Catalog {
    pub fn new(storage: Storage) -> Self {
        Catalog { storage }
    }

    /// Opens the warehouse at `uri` (see [`Storage::open`]).
    pub fn open(uri: &str) -> Result<Self> {
        Ok(Catalog::new(Storage::open(uri)?))
    }

    /// Opens the warehouse at `uri` with store options (see [`Storage::open_with_options`]).
    pub fn open_with_options(uri: &str, options: &[(String, String)]) -> Result<Self> {
        Ok(Catalog::new(Storage::open_with_options(uri, options)?))
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub async fn database_exists(&self, name: &str) -> Result<bool> {
        paths::validate_name("database", name)?;
        if self.storage.exists(&paths::database_marker(name)).await? {
            return Ok(true);
        }
        // Databases made by Paimon have no marker: any object below the directory counts.
        let (dirs, objects) = self.storage.list_dir(&paths::database_dir(name)).await?;
        Ok(!dirs.is_empty() || !objects.is_empty())
    }

    pub async fn create_database(&self, name: &str, ignore_if_exists: bool) -> Result<()> {
        paths::validate_name("database", name)?;
        if name == SYSTEM_DATABASE {
            return Err(Error::data_invalid(format!(
                "database name '{name}' is reserved for system tables"
            )));
        }
        if self.database_exists(name).await? {
            if ignore_if_exists {
                return Ok(());
            }
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("database '{name}' already exists"),
            ));
        }
        self.storage
            .put_if_absent(&paths::database_marker(name), Bytes::new())
            .await?;
        Ok(())
    }

    pub async fn list_databases(&self) -> Result<Vec<String>> {
        let (dirs, _) = self
            .storage
            .list_dir(&object_store::path::Path::default())
            .await?;
        let mut dbs: Vec<String> = dirs
            .iter()
            .filter_map(|d| paths::database_from_dir(d).map(str::to_string))
            .collect();
        dbs.sort();
        Ok(dbs)
    }

    /// Drops a database; a non-empty one only with `cascade`.
    pub async fn drop_database(&self, name: &str, cascade: bool) -> Result<()> {
        if !self.database_exists(name).await? {
            return Err(Error::not_found(format!(
                "database '{name}' does not exist"
            )));
        }
        let tables = self.list_tables(name).await?;
        if !tables.is_empty() && !cascade {
            return Err(Error::data_invalid(format!(
                "database '{name}' is not empty ({} tables); use --cascade to drop it with its tables",
                tables.len()
            )));
        }
        self.storage.delete_prefix(&paths::database_dir(name)).await
    }

    pub async fn list_tables(&self, database: &str) -> Result<Vec<String>> {
        if !self.database_exists(database).await? {
            return Err(Error::not_found(format!(
                "database '{database}' does not exist"
            )));
        }
        let (dirs, _) = self
            .storage
            .list_dir(&paths::database_dir(database))
            .await?;
        let mut tables = Vec::new();
        for dir in dirs {
            if paths::validate_name("table", &dir).is_err() {
                continue;
            }
            let tp = TablePaths::new(database, &dir);
            if self.storage.exists(&tp.schema_file(0)).await?
                || !self.storage.list_dir(&tp.schema_dir()).await?.1.is_empty()
            {
                tables.push(dir);
            }
        }
        tables.sort();
        Ok(tables)
    }

    pub async fn table_exists(&self, id: &Identifier) -> Result<bool> {
        let tp = TablePaths::new(&id.database, &id.table);
        Ok(!self.storage.list_dir(&tp.schema_dir()).await?.1.is_empty())
    }

    /// Creates a table by writing `schema/schema-0` with create-if-not-exists, so two
    /// racing creators cannot both succeed.
    pub async fn create_table(&self, id: &Identifier, schema: TableSchema) -> Result<Table> {
        if !self.database_exists(&id.database).await? {
            return Err(Error::not_found(format!(
                "database '{}' does not exist; create it first with `strata db create {}`",
                id.database, id.database
            )));
        }
        if self.table_exists(id).await? {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("table '{id}' already exists"),
            ));
        }
        if schema.id != 0 {
            return Err(Error::internal("a new table's schema must have id 0"));
        }
        let tp = TablePaths::new(&id.database, &id.table);
        let created = self
            .storage
            .put_if_absent(&tp.schema_file(0), Bytes::from(schema.to_json()))
            .await?;
        if !created {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("table '{id}' already exists"),
            ));
        }
        self.load_table(id).await
    }

    pub async fn load_table(&self, id: &Identifier) -> Result<Table> {
        Table::load(
            self.storage.clone(),
            id.clone(),
            TablePaths::new(&id.database, &id.table),
        )
        .await
    }

    /// Changes a table's schema (see [`crate::schema::change`]) and returns the table at
    /// its new schema. Existing data files are not touched.
    pub async fn alter_table(
        &self,
        id: &Identifier,
        changes: &[crate::schema::change::SchemaChange],
    ) -> Result<Table> {
        let table = self.load_table(id).await?;
        let now = chrono::Utc::now().timestamp_millis();
        table
            .schema_manager()
            .commit_changes(changes, now)
            .await
            .map_err(|e| e.context(format!("table '{id}'")))?;
        self.load_table(id).await
    }

    pub async fn drop_table(&self, id: &Identifier) -> Result<()> {
        if !self.table_exists(id).await? {
            return Err(Error::not_found(format!("table '{id}' does not exist")));
        }
        let tp = TablePaths::new(&id.database, &id.table);
        self.storage.delete_prefix(tp.root()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        let id = Identifier::parse("sales.orders").unwrap();
        assert_eq!(id.to_string(), "sales.orders");
        for bad in ["orders", "a.b.c", "../x.y", "a./", ".t"] {
            assert!(Identifier::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn databases() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalog::open(dir.path().to_str().unwrap()).unwrap();
        assert!(cat.list_databases().await.unwrap().is_empty());
        cat.create_database("a", false).await.unwrap();
        cat.create_database("b", false).await.unwrap();
        assert_eq!(
            cat.create_database("a", false).await.unwrap_err().kind(),
            ErrorKind::AlreadyExists
        );
        cat.create_database("a", true).await.unwrap();
        assert_eq!(cat.list_databases().await.unwrap(), vec!["a", "b"]);
        assert!(cat.list_tables("a").await.unwrap().is_empty());
        cat.drop_database("a", false).await.unwrap();
        assert_eq!(cat.list_databases().await.unwrap(), vec!["b"]);
        assert_eq!(
            cat.drop_database("a", false).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
