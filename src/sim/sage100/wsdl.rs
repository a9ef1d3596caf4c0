//! `GET …svc?wsdl`: a document/literal wrapped WSDL a generic SOAP client can use.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;

use super::{SageSim, SERVICE_NS, SOAP_PATH};

const OPERATIONS: &[(&str, &str, &str)] = &[
    // (operation, request members, result type or "")
    ("GetContractInformation", "", "tns:ContractInformation"),
    (
        "GetSalesOrder",
        r#"<xs:element name="logon" type="tns:Logon"/><xs:element name="companyCode" type="xs:string"/><xs:element name="salesOrderNo" type="xs:string"/>"#,
        "tns:SalesOrder",
    ),
    (
        "GetNextSalesOrderNo",
        r#"<xs:element name="logon" type="tns:Logon"/><xs:element name="companyCode" type="xs:string"/>"#,
        "xs:string",
    ),
    (
        "CreateSalesOrder",
        r#"<xs:element name="logon" type="tns:Logon"/><xs:element name="companyCode" type="xs:string"/><xs:element name="salesOrder" type="tns:SalesOrder"/>"#,
        "",
    ),
    (
        "UpdateSalesOrder",
        r#"<xs:element name="logon" type="tns:Logon"/><xs:element name="companyCode" type="xs:string"/><xs:element name="salesOrder" type="tns:SalesOrder"/>"#,
        "",
    ),
    (
        "DeleteSalesOrder",
        r#"<xs:element name="logon" type="tns:Logon"/><xs:element name="companyCode" type="xs:string"/><xs:element name="salesOrderNo" type="xs:string"/>"#,
        "",
    ),
    (
        "GetCustomer",
        r#"<xs:element name="logon" type="tns:Logon"/><xs:element name="companyCode" type="xs:string"/><xs:element name="arDivisionNo" type="xs:string"/><xs:element name="customerNo" type="xs:string"/>"#,
        "tns:Customer",
    ),
    (
        "CreateCustomer",
        r#"<xs:element name="logon" type="tns:Logon"/><xs:element name="companyCode" type="xs:string"/><xs:element name="customer" type="tns:Customer"/>"#,
        "",
    ),
];

fn string_members(cols: &[super::schema::Column]) -> String {
    cols.iter()
        .filter(|c| {
            ![
                "DateCreated",
                "TimeCreated",
                "DateUpdated",
                "TimeUpdated",
                "UserCreatedKey",
                "UserUpdatedKey",
            ]
            .contains(&c.name)
        })
        .map(|c| {
            let ty = match c.kind {
                super::schema::Kind::Number => "xs:decimal",
                super::schema::Kind::Date => "xs:dateTime",
                super::schema::Kind::Char(_) => "xs:string",
            };
            format!(
                r#"<xs:element minOccurs="0" name="{}" nillable="true" type="{ty}"/>"#,
                c.name
            )
        })
        .collect()
}

pub async fn serve(State(_sim): State<SageSim>, headers: HeaderMap) -> impl IntoResponse {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let address = format!("http://{host}{SOAP_PATH}");
    let mut elements = String::new();
    let mut messages = String::new();
    let mut port_ops = String::new();
    let mut binding_ops = String::new();
    for (op, members, result) in OPERATIONS {
        let result_el = if result.is_empty() {
            String::new()
        } else {
            format!(r#"<xs:element minOccurs="0" name="{op}Result" type="{result}"/>"#)
        };
        elements.push_str(&format!(
            r#"<xs:element name="{op}"><xs:complexType><xs:sequence>{members}</xs:sequence></xs:complexType></xs:element><xs:element name="{op}Response"><xs:complexType><xs:sequence>{result_el}</xs:sequence></xs:complexType></xs:element>"#
        ));
        messages.push_str(&format!(
            r#"<wsdl:message name="{op}Request"><wsdl:part name="parameters" element="tns:{op}"/></wsdl:message><wsdl:message name="{op}Response"><wsdl:part name="parameters" element="tns:{op}Response"/></wsdl:message>"#
        ));
        port_ops.push_str(&format!(
            r#"<wsdl:operation name="{op}"><wsdl:input message="tns:{op}Request"/><wsdl:output message="tns:{op}Response"/><wsdl:fault name="MasFault" message="tns:MasFaultMessage"/></wsdl:operation>"#
        ));
        binding_ops.push_str(&format!(
            r#"<wsdl:operation name="{op}"><soap:operation soapAction="{SERVICE_NS}/IWebService/{op}" style="document"/><wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output><wsdl:fault name="MasFault"><soap:fault name="MasFault" use="literal"/></wsdl:fault></wsdl:operation>"#
        ));
    }
    let so_members = string_members(super::schema::SO_HEADER);
    let line_members = string_members(super::schema::SO_DETAIL);
    let customer_members = string_members(super::schema::AR_CUSTOMER);
    let wsdl = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions name="WebService" targetNamespace="{SERVICE_NS}" xmlns:tns="{SERVICE_NS}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xs="http://www.w3.org/2001/XMLSchema">
<wsdl:types><xs:schema elementFormDefault="qualified" targetNamespace="{SERVICE_NS}">
<xs:complexType name="Logon"><xs:sequence><xs:element name="Username" type="xs:string"/><xs:element name="Password" type="xs:string"/></xs:sequence></xs:complexType>
<xs:complexType name="Field"><xs:sequence><xs:element name="MasFieldName" type="xs:string"/><xs:element name="Value" type="xs:string" nillable="true"/></xs:sequence></xs:complexType>
<xs:complexType name="SalesOrderLine"><xs:sequence>{line_members}</xs:sequence></xs:complexType>
<xs:complexType name="SalesOrder"><xs:sequence>{so_members}<xs:element minOccurs="0" name="DateTimeCreated" type="xs:dateTime"/><xs:element minOccurs="0" name="DateTimeUpdated" type="xs:dateTime"/><xs:element minOccurs="0" name="Lines"><xs:complexType><xs:sequence><xs:element minOccurs="0" maxOccurs="unbounded" name="SalesOrderLine" type="tns:SalesOrderLine"/></xs:sequence></xs:complexType></xs:element><xs:element minOccurs="0" name="OtherFields"><xs:complexType><xs:sequence><xs:element minOccurs="0" maxOccurs="unbounded" name="Field" type="tns:Field"/></xs:sequence></xs:complexType></xs:element></xs:sequence></xs:complexType>
<xs:complexType name="Customer"><xs:sequence>{customer_members}</xs:sequence></xs:complexType>
<xs:complexType name="ContractInformation"><xs:sequence><xs:element name="ContractVersion" type="xs:int"/><xs:element name="AssemblyVersion" type="xs:string"/><xs:element name="NullDateTime" type="xs:dateTime"/></xs:sequence></xs:complexType>
<xs:element name="MasFault"><xs:complexType><xs:sequence><xs:element name="ErrorCode" type="xs:string"/><xs:element name="ErrorMessage" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
{elements}
</xs:schema></wsdl:types>
{messages}<wsdl:message name="MasFaultMessage"><wsdl:part name="detail" element="tns:MasFault"/></wsdl:message>
<wsdl:portType name="IWebService">{port_ops}</wsdl:portType>
<wsdl:binding name="BasicHttpBinding_IWebService" type="tns:IWebService"><soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>{binding_ops}</wsdl:binding>
<wsdl:service name="WebService"><wsdl:port name="BasicHttpBinding_IWebService" binding="tns:BasicHttpBinding_IWebService"><soap:address location="{address}"/></wsdl:port></wsdl:service>
</wsdl:definitions>"#
    );
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], wsdl)
}
