//! Export and import of all collection metadata, for Raft snapshots: a peer that installs a
//! snapshot ends up with exactly the collections, configs, payload indexes and aliases it
//! describes. Point data is not part of it.

use super::{MetaSnapshot, Registry, StoredCollection};
use crate::collection::error::CollectionResult;

impl Registry {
    /// The metadata of every collection and alias, as stored.
    pub fn export_meta(&self) -> MetaSnapshot {
        let _guard = self.change.lock();
        let collections = self
            .collections
            .read()
            .values()
            .map(|c| (c.name.clone(), self.stored(c)))
            .collect();
        MetaSnapshot {
            collections,
            aliases: self.aliases.read().clone(),
            quotas: Some(self.quota.config()),
        }
    }

    /// Makes this node's metadata equal to `snap`: drops collections it lacks (or that were
    /// re-created under the same name), creates missing ones, updates configs and indexes.
    pub fn import_meta(&self, snap: &MetaSnapshot) -> CollectionResult<()> {
        let current = self.export_meta();
        for (name, have) in &current.collections {
            if snap
                .collections
                .get(name)
                .is_none_or(|want| want.dir != have.dir)
            {
                self.delete(name)?;
            }
        }
        for (name, want) in &snap.collections {
            let have = current.collections.get(name).filter(|h| h.dir == want.dir);
            if have.is_none() {
                self.create_with(name, &want.dir, want.config.clone(), want.layout.clone())?;
            }
            self.sync_one(name, have, want)?;
        }
        if let Some(q) = snap.quotas.as_ref().filter(|q| **q != self.quota.config()) {
            self.set_quotas(q.clone())?;
        }
        let actions = super::alias_diff(&self.aliases.read(), &snap.aliases);
        self.change_aliases(&actions)
    }

    fn sync_one(
        &self,
        name: &str,
        have: Option<&StoredCollection>,
        want: &StoredCollection,
    ) -> CollectionResult<()> {
        let c = self.get(name)?;
        if have.is_some_and(|h| h.config != want.config) {
            let _guard = self.change.lock();
            c.set_config(want.config.clone())?;
            self.store(&c)?;
        }
        if have.is_some_and(|h| h.layout != want.layout) {
            let _guard = self.change.lock();
            c.set_layout(want.layout.clone())?;
            self.store(&c)?;
        }
        let schema = c.payload_schema();
        for key in schema
            .keys()
            .filter(|k| !want.payload_schema.contains_key(*k))
        {
            self.set_index(name, key, None)?;
        }
        for (key, t) in &want.payload_schema {
            if schema.get(key) != Some(t) {
                self.set_index(name, key, Some(*t))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AliasAction, Registry};
    use crate::collection::config::CreateCollection;
    use crate::segment::payload_index::FieldType;

    fn create(r: &Registry, name: &str, dir: &str, size: u64) {
        let req: CreateCollection = serde_json::from_value(
            serde_json::json!({"vectors": {"size": size, "distance": "Dot"}}),
        )
        .unwrap();
        let cfg = r.prepare_create(name, req, 2).unwrap();
        r.create_with(name, dir, cfg, Default::default()).unwrap();
    }

    #[test]
    fn import_makes_metadata_equal() {
        let a_dir = tempfile::tempdir().unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let a = Registry::open(a_dir.path(), Some(7)).unwrap();
        let b = Registry::open(b_dir.path(), Some(7)).unwrap();
        create(&a, "kept", "d1", 4);
        create(&a, "recreated", "d2", 8);
        create(&a, "new", "d3", 4);
        a.set_index("kept", "city", Some(FieldType::Keyword))
            .unwrap();
        a.change_aliases(&[AliasAction::CreateAlias {
            collection_name: "new".into(),
            alias_name: "n".into(),
        }])
        .unwrap();

        create(&b, "kept", "d1", 4);
        b.set_index("kept", "old_field", Some(FieldType::Integer))
            .unwrap();
        create(&b, "recreated", "old-dir", 8);
        create(&b, "gone", "d9", 4);
        b.change_aliases(&[AliasAction::CreateAlias {
            collection_name: "gone".into(),
            alias_name: "g".into(),
        }])
        .unwrap();

        let want = a.export_meta();
        b.import_meta(&want).unwrap();
        assert_eq!(b.export_meta(), want);
        assert!(b.get("gone").is_err());
        assert_eq!(b.get("n").unwrap().name, "new");
        // Importing again changes nothing.
        b.import_meta(&want).unwrap();
        assert_eq!(b.export_meta(), want);
    }
}
