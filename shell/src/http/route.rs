//! The route table: every method and path the server answers. The OpenAPI
//! document is checked against it by a test, and metrics label by it.

/// What a request is for, once its path matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Dashboard,
    Healthz,
    Metrics,
    OpenApi,
    ListLogs,
    GetLog,
    PutLog,
    Append,
    GetMessage,
    PutGroup,
    GetGroup,
    Acquire,
    Settle,
    Extend,
    Release,
    ListDead,
    Redrive,
    ListLeases,
    ListAttempts,
}

pub struct Route {
    pub method: &'static str,
    /// Literal segments and `{name}` placeholders.
    pub pattern: &'static str,
    pub endpoint: Endpoint,
}

const fn route(method: &'static str, pattern: &'static str, endpoint: Endpoint) -> Route {
    Route {
        method,
        pattern,
        endpoint,
    }
}

pub const ROUTES: [Route; 19] = [
    route("GET", "/", Endpoint::Dashboard),
    route("GET", "/healthz", Endpoint::Healthz),
    route("GET", "/metrics", Endpoint::Metrics),
    route("GET", "/openapi.json", Endpoint::OpenApi),
    route("GET", "/v1/logs", Endpoint::ListLogs),
    route("GET", "/v1/logs/{log}", Endpoint::GetLog),
    route("PUT", "/v1/logs/{log}", Endpoint::PutLog),
    route("POST", "/v1/logs/{log}/messages", Endpoint::Append),
    route(
        "GET",
        "/v1/logs/{log}/messages/{index}",
        Endpoint::GetMessage,
    ),
    route("PUT", "/v1/logs/{log}/groups/{group}", Endpoint::PutGroup),
    route("GET", "/v1/logs/{log}/groups/{group}", Endpoint::GetGroup),
    route(
        "POST",
        "/v1/logs/{log}/groups/{group}/acquire",
        Endpoint::Acquire,
    ),
    route(
        "POST",
        "/v1/logs/{log}/groups/{group}/settle",
        Endpoint::Settle,
    ),
    route(
        "POST",
        "/v1/logs/{log}/groups/{group}/extend",
        Endpoint::Extend,
    ),
    route(
        "POST",
        "/v1/logs/{log}/groups/{group}/consumers/{consumer}/release",
        Endpoint::Release,
    ),
    route(
        "GET",
        "/v1/logs/{log}/groups/{group}/dead",
        Endpoint::ListDead,
    ),
    route(
        "POST",
        "/v1/logs/{log}/groups/{group}/dead/redrive",
        Endpoint::Redrive,
    ),
    route(
        "GET",
        "/v1/logs/{log}/groups/{group}/leases",
        Endpoint::ListLeases,
    ),
    route(
        "GET",
        "/v1/logs/{log}/groups/{group}/messages/{index}/attempts",
        Endpoint::ListAttempts,
    ),
];

/// The outcome of matching a request line against [`ROUTES`].
#[derive(Debug, PartialEq, Eq)]
pub enum Matched<'a> {
    /// Position in [`ROUTES`] and the placeholder values, in order.
    Found(usize, Vec<&'a str>),
    /// The path exists, with other methods.
    WrongMethod,
    NotFound,
}

/// Most path segments of any route; longer paths match nothing, so
/// matching stays bounded whatever a client sends.
const SEGMENTS_MAX: usize = 8;

pub fn find<'a>(method: &str, path: &'a str) -> Matched<'a> {
    let segments: Vec<&str> = path.split('/').skip(1).take(SEGMENTS_MAX + 1).collect();
    let mut path_known = false;
    for (position, route) in ROUTES.iter().enumerate() {
        let Some(values) = match_pattern(route.pattern, &segments) else {
            continue;
        };
        if route.method == method {
            return Matched::Found(position, values);
        }
        path_known = true;
    }
    if path_known {
        Matched::WrongMethod
    } else {
        Matched::NotFound
    }
}

fn match_pattern<'a>(pattern: &str, segments: &[&'a str]) -> Option<Vec<&'a str>> {
    let expected: Vec<&str> = pattern.split('/').skip(1).collect();
    if pattern == "/" {
        return (segments == [""]).then(Vec::new);
    }
    if expected.len() != segments.len() {
        return None;
    }
    let mut values = Vec::new();
    for (want, got) in expected.iter().zip(segments) {
        if want.starts_with('{') {
            values.push(*got);
        } else if want != got {
            return None;
        }
    }
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_their_route_and_capture_placeholders() {
        let Matched::Found(position, values) = find(
            "POST",
            "/v1/logs/orders/groups/billing/consumers/w1/release",
        ) else {
            panic!("routed")
        };
        assert_eq!(ROUTES[position].endpoint, Endpoint::Release);
        assert_eq!(values, ["orders", "billing", "w1"]);
        assert_eq!(find("GET", "/"), Matched::Found(0, vec![]));
        assert_eq!(find("DELETE", "/v1/logs/orders"), Matched::WrongMethod);
        assert_eq!(find("GET", "/v1/nothing"), Matched::NotFound);
        assert_eq!(find("GET", &"/a".repeat(10_000)), Matched::NotFound);
    }
}
