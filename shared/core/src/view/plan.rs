//! A view's read plan: the distinct JSON pointers its aggregates read (fields and
//! conditions, plus an event's `type`, `source` and `id`), as a tree of keys, so that
//! one pass over an event's JSON finds every value the fold needs.

use super::AggregateAttribute;

/// Slot of the event's `type`.
pub(crate) const TYPE: usize = 0;
/// Slot of the event's `source`.
pub(crate) const SOURCE: usize = 1;
/// Slot of the event's `id` (for explained reads).
pub(crate) const ID: usize = 2;

/// Where each aggregate finds its field and its condition's field.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadPlan {
    /// The top-level keys wanted (the root has no slot of its own).
    pub root: PointerNode,
    /// Slot number → JSON pointer.
    pub pointers: Vec<String>,
    /// Per aggregate: the slot of its `field`.
    pub field: Vec<Option<usize>>,
    /// Per aggregate: the slot of its condition's field.
    pub condition: Vec<Option<usize>>,
    /// The distinct event types the aggregates' filters name.
    pub types: Vec<String>,
    /// Per entry of `types`, then one for every other type: the aggregates (in view
    /// order) whose type filter takes events of that type, so a fold compares an
    /// event's type once per distinct type, not once per aggregate.
    pub by_type: Vec<Vec<usize>>,
}

/// One key on the way to wanted values.
#[derive(Debug, Clone, Default)]
pub(crate) struct PointerNode {
    /// The key, unescaped (`~1` is `/`, `~0` is `~`).
    pub key: String,
    /// The key's first eight bytes (zero-padded), little-endian: most keys are told
    /// apart by this word alone.
    pub prefix: u64,
    /// The JSON pointer of this node, as written (escaped).
    pub pointer: String,
    /// Set when this node's value is wanted itself.
    pub slot: Option<usize>,
    pub children: Vec<PointerNode>,
}

impl ReadPlan {
    pub fn new(aggregates: &[AggregateAttribute]) -> Self {
        let mut plan = Self::default();
        for pointer in ["/type", "/source", "/id"] {
            plan.slot(pointer);
        }
        for attribute in aggregates {
            let field = attribute.field.as_deref().map(|p| plan.slot(p));
            let condition = attribute
                .filter
                .condition
                .as_ref()
                .map(|(pointer, _, _)| plan.slot(pointer));
            plan.field.push(field);
            plan.condition.push(condition);
            for ty in &attribute.filter.types {
                if !plan.types.contains(ty) {
                    plan.types.push(ty.clone());
                }
            }
        }
        let takes = |a: &AggregateAttribute, ty: Option<&String>| {
            let types = &a.filter.types;
            types.is_empty() || ty.is_some_and(|ty| types.contains(ty))
        };
        let keys = plan.types.iter().map(Some).chain([None]);
        plan.by_type = keys
            .map(|ty| {
                (0..aggregates.len())
                    .filter(|&i| takes(&aggregates[i], ty))
                    .collect()
            })
            .collect();
        plan
    }

    /// The aggregates that take events of type `ty`, in view order.
    pub fn aggregates_of_type(&self, ty: &str) -> &[usize] {
        let at = self.types.iter().position(|t| t == ty);
        &self.by_type[at.unwrap_or(self.types.len())]
    }

    /// The slot of `pointer`, added to the tree if new.
    fn slot(&mut self, pointer: &str) -> usize {
        if let Some(at) = self.pointers.iter().position(|p| p == pointer) {
            return at;
        }
        let slot = self.pointers.len();
        self.pointers.push(pointer.to_owned());
        let mut node = &mut self.root;
        let mut path = String::new();
        // A pointer starts with '/' (checked when the view is compiled).
        for raw in pointer.split('/').skip(1) {
            path.push('/');
            path.push_str(raw);
            let key = raw.replace("~1", "/").replace("~0", "~");
            let at = match node.children.iter().position(|c| c.key == key) {
                Some(at) => at,
                None => {
                    node.children.push(PointerNode {
                        prefix: key_prefix(key.as_bytes()),
                        key,
                        pointer: path.clone(),
                        slot: None,
                        children: Vec::new(),
                    });
                    node.children.len() - 1
                }
            };
            node = &mut node.children[at];
        }
        node.slot = Some(slot);
        slot
    }
}

/// The first eight bytes of `key`, zero-padded, as a little-endian word.
pub(crate) fn key_prefix(key: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = key.len().min(8);
    word[..n].copy_from_slice(&key[..n]);
    u64::from_le_bytes(word)
}
