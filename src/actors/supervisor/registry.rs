//! Name -> current address of each child, updated on every (re)start, so callers always
//! reach the live incarnation and never hold a stale `Addr`.

use std::any::Any;
use std::collections::HashMap;

use actix::{Actor, Addr};
use parking_lot::RwLock;

#[derive(Default)]
pub struct ChildRegistry {
    map: RwLock<HashMap<&'static str, Box<dyn Any + Send + Sync>>>,
}

impl ChildRegistry {
    pub(super) fn insert_any(&self, id: &'static str, addr: Box<dyn Any + Send + Sync>) {
        self.map.write().insert(id, addr);
    }

    pub(super) fn remove(&self, id: &str) {
        self.map.write().remove(id);
    }

    /// The current incarnation of child `id`, if it is running and of type `A`.
    pub fn get<A: Actor>(&self, id: &str) -> Option<Addr<A>> {
        self.map.read().get(id).and_then(|a| a.downcast_ref::<Addr<A>>()).cloned()
    }
}
