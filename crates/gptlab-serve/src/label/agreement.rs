//! Agreement of the store's labels (`gptlab label agreement --db`, `GET /label/api/agreement`):
//! each ranking task's labels become an item of gptlab-eval's [`agreement`]; a labeler's
//! group is their role when they labeled (`labeler`, `held-out`; an admin's labels are gold).
//! Skipped tasks give no label.

use super::db::{self, LabelRecord};
use super::{LabelResult, TaskKind};
use crate::store::{Role, Store};
use gptlab_eval::agreement::{self, AgreementReport, Group, Item, Label};
use std::collections::BTreeMap;

/// The ranking tasks' labels as items.
pub fn items(labels: &[LabelRecord]) -> Vec<Item> {
    let mut by_task: BTreeMap<i64, Item> = BTreeMap::new();
    for l in labels.iter().filter(|l| l.kind == TaskKind::Ranking && l.submission.skip.is_none()) {
        let Some(ranking) = &l.submission.ranking else { continue };
        let group = match l.role {
            Role::Admin => Group::Gold,
            Role::HeldOut => Group::HeldOut,
            Role::Labeler | Role::Api => Group::Labeler,
        };
        let item = by_task.entry(l.task).or_insert_with(|| Item { id: format!("task {}", l.task), k: l.outputs.len(), labels: vec![] });
        item.labels.push(Label { labeler: l.labeler.clone(), group, ranking: ranking.clone() });
    }
    by_task.into_values().collect()
}

/// The agreement report of every ranking label in `store`.
pub fn report(store: &Store, seed: u64) -> LabelResult<AgreementReport> {
    let items = items(&db::labels(store)?);
    agreement::agreement(&items, seed).map_err(|e| super::LabelError::Store(crate::Error::Input(e.to_string())))
}
