//! Times every AWS call (IAM and the identity store) for
//! `elevate_provider_call_duration_seconds{provider="aws"}`: an SDK interceptor, so no call
//! site can forget it.
use std::time::Instant;

use aws_sdk_iam::config::{ConfigBag, Intercept, RuntimeComponents, interceptors};
use aws_smithy_runtime_api::{box_error::BoxError, client::orchestrator::Metadata};
use aws_smithy_types::config_bag::{Storable, StoreReplace};

#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Default)]
pub struct CallTiming;

impl Intercept for CallTiming {
    fn name(&self) -> &'static str {
        "ElevateCallTiming"
    }

    fn read_before_execution(
        &self,
        _context: &interceptors::BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &interceptors::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Started(at)) = cfg.load::<Started>() {
            let operation = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
            let ok = matches!(context.output_or_error(), Some(Ok(_)));
            crate::metrics::observe_call("aws", operation, ok, at.elapsed());
        }
        Ok(())
    }
}
