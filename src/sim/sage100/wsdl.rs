//! `GET …svc?wsdl` and `?xsd=xsd0|xsd1`, published the way WCF does: the WSDL imports its schemas
//! by `schemaLocation`; xsd0 holds the operation wrappers in the service namespace, xsd1 the data
//! contracts in theirs, with members in the order the simulator's shape gives them.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::wcf::{SoapShape, Ty};
use super::{SageSim, SOAP_PATH};

const XS: &str = "http://www.w3.org/2001/XMLSchema";

fn xml(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], text).into_response()
}

pub async fn serve(
    State(sim): State<SageSim>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("http://{host}{SOAP_PATH}");
    let shape = &sim.cfg.shape;
    match query.as_deref() {
        Some("wsdl") | Some("singleWsdl") => xml(wsdl(shape, &base)),
        Some("xsd=xsd0") => xml(service_schema(shape, &base)),
        Some("xsd=xsd1") => xml(data_schema(shape)),
        _ => (StatusCode::NOT_FOUND, "use ?wsdl").into_response(),
    }
}

fn wsdl(shape: &SoapShape, base: &str) -> String {
    let ns = &shape.namespace;
    let contract = &shape.contract;
    let (mut messages, mut port_ops, mut binding_ops) =
        (String::new(), String::new(), String::new());
    for op in SoapShape::OPERATIONS {
        messages.push_str(&format!(
            r#"<wsdl:message name="{contract}_{op}_InputMessage"><wsdl:part name="parameters" element="tns:{op}"/></wsdl:message><wsdl:message name="{contract}_{op}_OutputMessage"><wsdl:part name="parameters" element="tns:{op}Response"/></wsdl:message>"#
        ));
        port_ops.push_str(&format!(
            r#"<wsdl:operation name="{op}"><wsdl:input wsaw:Action="{a}" message="tns:{contract}_{op}_InputMessage"/><wsdl:output message="tns:{contract}_{op}_OutputMessage"/><wsdl:fault name="MasFault" message="tns:MasFaultMessage"/></wsdl:operation>"#,
            a = shape.action(op)
        ));
        binding_ops.push_str(&format!(
            r#"<wsdl:operation name="{op}"><soap:operation soapAction="{a}" style="document"/><wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output><wsdl:fault name="MasFault"><soap:fault name="MasFault" use="literal"/></wsdl:fault></wsdl:operation>"#,
            a = shape.action(op)
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions name="WebService" targetNamespace="{ns}" xmlns:tns="{ns}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl" xmlns:xsd="{XS}" xmlns:q1="{data}">
<wsdl:types><xsd:schema targetNamespace="{ns}/Imports"><xsd:import schemaLocation="{base}?xsd=xsd0" namespace="{ns}"/><xsd:import schemaLocation="{base}?xsd=xsd1" namespace="{data}"/></xsd:schema></wsdl:types>
{messages}<wsdl:message name="MasFaultMessage"><wsdl:part name="detail" element="q1:MasFault"/></wsdl:message>
<wsdl:portType name="{contract}">{port_ops}</wsdl:portType>
<wsdl:binding name="BasicHttpBinding_{contract}" type="tns:{contract}"><soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>{binding_ops}</wsdl:binding>
<wsdl:service name="WebService"><wsdl:port name="BasicHttpBinding_{contract}" binding="tns:BasicHttpBinding_{contract}"><soap:address location="{base}"/></wsdl:port></wsdl:service>
</wsdl:definitions>"#,
        data = shape.data_namespace
    )
}

fn type_ref(ty: Ty) -> String {
    match ty {
        Ty::Simple => "xs:string".into(),
        other => format!("q1:{}", other.name()),
    }
}

/// xsd0: the operation wrappers (service namespace, qualified).
fn service_schema(shape: &SoapShape, base: &str) -> String {
    let mut elements = String::new();
    for op in SoapShape::OPERATIONS {
        let (params, result) = SoapShape::operation(op).expect("listed");
        let members: String = params
            .iter()
            .map(|(n, t)| {
                format!(
                    r#"<xs:element minOccurs="0" name="{n}" nillable="true" type="{}"/>"#,
                    type_ref(*t)
                )
            })
            .collect();
        let result = match result {
            None => String::new(),
            Some("string") => format!(
                r#"<xs:element minOccurs="0" name="{op}Result" nillable="true" type="xs:string"/>"#
            ),
            Some(t) => format!(
                r#"<xs:element minOccurs="0" name="{op}Result" nillable="true" type="q1:{t}"/>"#
            ),
        };
        elements.push_str(&format!(
            r#"<xs:element name="{op}"><xs:complexType><xs:sequence>{members}</xs:sequence></xs:complexType></xs:element><xs:element name="{op}Response"><xs:complexType><xs:sequence>{result}</xs:sequence></xs:complexType></xs:element>"#
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><xs:schema elementFormDefault="qualified" targetNamespace="{ns}" xmlns:xs="{XS}" xmlns:q1="{data}"><xs:import schemaLocation="{base}?xsd=xsd1" namespace="{data}"/>{elements}</xs:schema>"#,
        ns = shape.namespace,
        data = shape.data_namespace
    )
}

/// xsd1: the data contracts (their own namespace, qualified), members in the shape's order.
fn data_schema(shape: &SoapShape) -> String {
    let mut types = String::new();
    for ty in [
        Ty::Logon,
        Ty::SalesOrder,
        Ty::SalesOrderLine,
        Ty::Field,
        Ty::Customer,
    ] {
        let members: String = shape
            .members(ty)
            .iter()
            .map(|(n, t)| {
                format!(
                    r#"<xs:element minOccurs="0" name="{n}" nillable="true" type="{}"/>"#,
                    type_ref(*t)
                )
            })
            .collect();
        types.push_str(&format!(
            r#"<xs:complexType name="{}"><xs:sequence>{members}</xs:sequence></xs:complexType><xs:element name="{0}" nillable="true" type="q1:{0}"/>"#,
            ty.name()
        ));
    }
    for coll in [Ty::Lines, Ty::OtherFields] {
        let (item, item_ty) = coll.item().expect("a collection");
        types.push_str(&format!(
            r#"<xs:complexType name="{}"><xs:sequence><xs:element minOccurs="0" maxOccurs="unbounded" name="{item}" nillable="true" type="q1:{}"/></xs:sequence></xs:complexType>"#,
            coll.name(),
            item_ty.name()
        ));
    }
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><xs:schema elementFormDefault="qualified" targetNamespace="{data}" xmlns:xs="{XS}" xmlns:q1="{data}">{types}<xs:complexType name="ContractInformation"><xs:sequence><xs:element minOccurs="0" name="AssemblyVersion" type="xs:string"/><xs:element minOccurs="0" name="ContractVersion" type="xs:int"/><xs:element minOccurs="0" name="NullDateTime" type="xs:dateTime"/></xs:sequence></xs:complexType><xs:complexType name="MasFault"><xs:sequence><xs:element minOccurs="0" name="ErrorCode" type="xs:string"/><xs:element minOccurs="0" name="ErrorMessage" type="xs:string"/></xs:sequence></xs:complexType><xs:element name="MasFault" nillable="true" type="q1:MasFault"/></xs:schema>"#,
        data = shape.data_namespace
    )
}
