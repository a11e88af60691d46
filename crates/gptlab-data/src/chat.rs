//! Messages of a conversation: the unit every data file and the chat format share.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn user(s: &str) -> Self {
        Self { role: Role::User, content: s.into() }
    }
    pub fn assistant(s: &str) -> Self {
        Self { role: Role::Assistant, content: s.into() }
    }
}
