//! The embedded default's adapters: one store for every port but the archive (a
//! directory) and the bus (in process). `cjaas_app::wiring` builds the rest.

use std::convert::Infallible;
use std::sync::Arc;

use cjaas_app::wiring::Adapters;
use cjaas_core::auth::SigningKeys;
use cjaas_core::ports::{
    Archive, ConfigStore, DeadLetterSink, DocumentStore, EventBus, EventLog, EventStream,
    Forwarder, TapeStore,
};
use cjaas_core::target::TargetPolicy;

use crate::scheduler::LocalBus;
use crate::{DirArchive, EmbeddedStore, LocalForwarder};

#[derive(Clone)]
pub struct LocalAdapters {
    pub store: Arc<EmbeddedStore>,
    /// The store as the Tape port: appends ride on the stream acknowledgement's fsync
    /// ([`EmbeddedStore::deferring_append_sync`]); every append comes from the poller.
    pub tape: Arc<EmbeddedStore>,
    pub archive: Arc<DirArchive>,
    pub bus: LocalBus,
    pub keys: SigningKeys,
    pub targets: TargetPolicy,
}

impl LocalAdapters {
    /// The store's own signing keys, its `archive/` directory and a fresh bus.
    pub fn new(store: EmbeddedStore, targets: TargetPolicy) -> Result<Self, redb::Error> {
        Ok(Self {
            keys: store.signing_keys()?,
            archive: Arc::new(DirArchive::new(store.dir().join("archive"))),
            tape: Arc::new(store.deferring_append_sync()),
            store: Arc::new(store),
            bus: LocalBus::default(),
            targets,
        })
    }
}

impl Adapters for LocalAdapters {
    type Error = Infallible;

    fn tape(&self) -> Result<Arc<dyn TapeStore>, Infallible> {
        Ok(self.tape.clone())
    }
    fn docs(&self) -> Result<Arc<dyn DocumentStore>, Infallible> {
        Ok(self.store.clone())
    }
    fn config(&self) -> Result<Arc<dyn ConfigStore>, Infallible> {
        Ok(self.store.clone())
    }
    fn stream(&self) -> Result<Arc<dyn EventStream>, Infallible> {
        Ok(self.store.clone())
    }
    fn dead_letters(&self) -> Result<Arc<dyn DeadLetterSink>, Infallible> {
        Ok(self.store.clone())
    }
    fn archive(&self) -> Result<Arc<dyn Archive>, Infallible> {
        Ok(self.archive.clone())
    }
    fn bus(&self) -> Result<Arc<dyn EventBus>, Infallible> {
        Ok(Arc::new(self.bus.clone()))
    }
    fn forwarder(&self) -> Result<Arc<dyn Forwarder>, Infallible> {
        Ok(Arc::new(LocalForwarder))
    }
    fn keys(&self) -> Result<SigningKeys, Infallible> {
        Ok(self.keys.clone())
    }
    fn targets(&self) -> Result<TargetPolicy, Infallible> {
        Ok(self.targets.clone())
    }
    fn event_log(&self) -> Option<Arc<dyn EventLog>> {
        Some(self.store.clone())
    }
}
