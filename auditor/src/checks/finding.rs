//! A broken rule, as the report lists it.

use serde::Serialize;

use super::CheckId;
use crate::protocol::Hash32;

/// One broken rule: where, what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    /// The PROTOCOL.md error code (`LedgerError::code()`), or an
    /// auditor-specific one for checks beyond §6.
    pub code: &'static str,
    /// For `wrong_hash` and `bad_signature`: which hash or signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    /// The transaction's position in its block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx: Option<Hash32>,
    pub expected: String,
    pub found: String,
    pub message: String,
    #[serde(skip)]
    order: (usize, u16, usize),
}

impl Finding {
    pub fn new(
        check: CheckId,
        code: &'static str,
        expected: impl Into<String>,
        found: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            check: check.id(),
            code,
            detail: None,
            height: None,
            position: None,
            tx: None,
            expected: expected.into(),
            found: found.into(),
            message: message.into(),
            order: (0, 0, 0),
        }
    }

    pub fn detail(mut self, d: &'static str) -> Self {
        self.detail = Some(d);
        self
    }

    pub fn at(mut self, height: u64) -> Self {
        self.height = Some(height);
        self
    }

    /// The transaction the finding is about, outside a block's list.
    pub fn tx(mut self, tx: Hash32) -> Self {
        self.tx = Some(tx);
        self
    }

    /// The PROTOCOL.md rule (and its item) this finding breaks, which
    /// orders a block's findings as §6 applies its rules.
    pub(crate) fn rule(mut self, rule: u16, sub: usize) -> Self {
        self.order.1 = rule;
        self.order.2 = sub;
        self
    }

    /// The transaction at `position` (and its hash, when it has one).
    pub(crate) fn in_tx(mut self, position: usize, tx: Option<Hash32>) -> Self {
        self.position = Some(position);
        self.tx = tx;
        self.order.0 = position + 1;
        self
    }

    pub(crate) fn order(&self) -> (usize, u16, usize) {
        self.order
    }

    pub fn check_id(&self) -> Option<CheckId> {
        CheckId::from_id(self.check)
    }
}
