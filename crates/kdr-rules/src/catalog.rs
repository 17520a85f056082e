//! Alert types: what every alert of a type says about itself (name, severity, tactics,
//! description, remediation), loaded from the `alert` items of rule files.

use rustc_hash::FxHashMap;
use serde::Serialize;

use kdr_model::{Plane, Severity, Tactic};

use crate::loader::Location;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertType {
    pub id: String,
    pub display_name: String,
    pub plane: Plane,
    pub severity: Severity,
    pub tactics: Vec<Tactic>,
    pub techniques: Vec<String>,
    pub mitigations: Vec<String>,
    /// Deprecated IDs that resolve to this one.
    pub aliases: Vec<String>,
    pub description: String,
    pub impact: String,
    pub remediation: String,
    #[serde(skip)]
    pub location: Location,
}

/// Every alert type, by ID, with deprecated aliases resolving to their replacement.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    types: Vec<AlertType>,
    by_id: FxHashMap<String, usize>,
    by_alias: FxHashMap<String, usize>,
}

impl Catalog {
    /// Adds or replaces (same ID) an alert type.
    pub(crate) fn upsert(&mut self, alert_type: AlertType) {
        let index = match self.by_id.get(&alert_type.id) {
            Some(&i) => {
                self.types[i] = alert_type;
                i
            }
            None => {
                self.types.push(alert_type);
                self.types.len() - 1
            }
        };
        let id = self.types[index].id.clone();
        self.by_id.insert(id, index);
        for alias in self.types[index].aliases.clone() {
            self.by_alias.insert(alias, index);
        }
    }

    /// Looks an alert type up by its ID or by a deprecated alias.
    pub fn resolve(&self, id_or_alias: &str) -> Option<&AlertType> {
        self.by_id
            .get(id_or_alias)
            .or_else(|| self.by_alias.get(id_or_alias))
            .map(|&i| &self.types[i])
    }

    pub fn index_of(&self, id_or_alias: &str) -> Option<usize> {
        self.by_id
            .get(id_or_alias)
            .or_else(|| self.by_alias.get(id_or_alias))
            .copied()
    }

    pub fn get(&self, index: usize) -> &AlertType {
        &self.types[index]
    }

    pub fn iter(&self) -> impl Iterator<Item = &AlertType> {
        self.types.iter()
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}
