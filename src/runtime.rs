//! The process's one async runtime, for the async APIs of object_store (S3 and local output)
//! and DataFusion. Started at first use, so that a run that needs neither starts no threads;
//! shared, so that a `report --input s3://` reads S3 and runs its query on the same threads.

use std::future::Future;
use std::sync::OnceLock;

fn shared() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("hsmtrail-async")
            .enable_all()
            .build()
            .expect("starting the async runtime (threads could not be created)")
    })
}

/// Runs a future to completion from synchronous code: the main thread or a rayon worker,
/// never a task of the runtime itself.
pub fn block_on<F: Future>(future: F) -> F::Output {
    shared().block_on(future)
}
