//! Sends each connection to its protocol by the listener it came in on.

use std::sync::Arc;

use async_trait::async_trait;
use caravel_net::{Handler, Service, Session, Stream};

pub struct Router {
    pub smtp: Arc<dyn Handler>,
    pub pop3: Arc<dyn Handler>,
    pub imap: Arc<dyn Handler>,
    pub http: Arc<dyn Handler>,
}

impl Router {
    fn pick(&self, service: Service) -> &Arc<dyn Handler> {
        match service {
            Service::Smtp | Service::Submission | Service::Submissions => &self.smtp,
            Service::Pop3 | Service::Pop3s => &self.pop3,
            Service::Imap | Service::Imaps => &self.imap,
            Service::Http | Service::Https => &self.http,
        }
    }
}

#[async_trait]
impl Handler for Router {
    async fn handle(&self, session: Session, stream: Stream) {
        self.pick(session.service).handle(session, stream).await
    }

    async fn refuse(&self, service: Service, stream: Stream) {
        self.pick(service).refuse(service, stream).await
    }
}
