//! The client Service (REST 6333, gRPC 6334, extra ports) and the headless Service that gives
//! each pod its stable DNS name for peer traffic (6335), published before pods are ready.

use super::{headless_name, owned_meta, selector_labels, GRPC_PORT, HTTP_PORT, P2P_PORT};
use crds::{QdrantCluster, ServiceType};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

fn port(name: &str, port: i32, target: i32) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port,
        target_port: Some(IntOrString::Int(target)),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

pub fn client_service(qc: &QdrantCluster) -> Service {
    let s = &qc.spec.service;
    let mut http = port("http", HTTP_PORT, HTTP_PORT);
    let mut grpc = port("grpc", GRPC_PORT, GRPC_PORT);
    if s.type_ != ServiceType::ClusterIP {
        http.node_port = s.http_node_port;
        grpc.node_port = s.grpc_node_port;
    }
    let mut ports = vec![http, grpc];
    ports.extend(
        s.extra_ports
            .iter()
            .map(|p| port(&p.name, p.port, p.target_port)),
    );
    let mut meta = owned_meta(qc, qc.name_any());
    if !s.annotations.is_empty() {
        meta.annotations = Some(s.annotations.clone());
    }
    let type_ = match s.type_ {
        ServiceType::ClusterIP => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
    };
    Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            selector: Some(selector_labels(qc)),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn headless_service(qc: &QdrantCluster) -> Service {
    Service {
        metadata: owned_meta(qc, headless_name(qc)),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(selector_labels(qc)),
            ports: Some(vec![
                port("p2p", P2P_PORT, P2P_PORT),
                port("http", HTTP_PORT, HTTP_PORT),
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
