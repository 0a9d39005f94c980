//! The standard objects of a new Attio workspace and their writable attributes, from Attio's
//! standard-object docs (docs.attio.com/docs/standard-objects/*, summarized in
//! shared/attio/NOTES.md §1.2). Every object also has the system attributes `record_id`,
//! `created_at` and `created_by`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::model::{Attribute, Object, SelectOption, Workspace, now_string};

/// One attribute of the seed table: (slug, title, type, multiselect, unique, required, target).
type Spec = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    bool,
    bool,
    Option<&'static str>,
);

const PEOPLE: &[Spec] = &[
    ("name", "Name", "personal-name", false, false, false, None),
    (
        "email_addresses",
        "Email addresses",
        "email-address",
        true,
        true,
        false,
        None,
    ),
    (
        "description",
        "Description",
        "text",
        false,
        false,
        false,
        None,
    ),
    (
        "company",
        "Company",
        "record-reference",
        false,
        false,
        false,
        Some("companies"),
    ),
    ("job_title", "Job title", "text", false, false, false, None),
    (
        "phone_numbers",
        "Phone numbers",
        "phone-number",
        true,
        false,
        false,
        None,
    ),
    (
        "primary_location",
        "Primary location",
        "location",
        false,
        false,
        false,
        None,
    ),
    (
        "avatar_url",
        "Avatar URL",
        "text",
        false,
        false,
        false,
        None,
    ),
    ("linkedin", "LinkedIn", "text", false, false, false, None),
    ("twitter", "Twitter", "text", false, false, false, None),
    ("facebook", "Facebook", "text", false, false, false, None),
    ("instagram", "Instagram", "text", false, false, false, None),
    ("angellist", "AngelList", "text", false, false, false, None),
    (
        "associated_users",
        "Associated users",
        "record-reference",
        true,
        false,
        false,
        Some("users"),
    ),
];

const COMPANIES: &[Spec] = &[
    ("name", "Name", "text", false, false, false, None),
    ("domains", "Domains", "domain", true, true, false, None),
    (
        "description",
        "Description",
        "text",
        false,
        false,
        false,
        None,
    ),
    (
        "team",
        "Team",
        "record-reference",
        true,
        false,
        false,
        Some("people"),
    ),
    (
        "categories",
        "Categories",
        "select",
        true,
        false,
        false,
        None,
    ),
    (
        "primary_location",
        "Primary location",
        "location",
        false,
        false,
        false,
        None,
    ),
    ("logo_url", "Logo URL", "text", false, false, false, None),
    ("linkedin", "LinkedIn", "text", false, false, false, None),
    ("twitter", "Twitter", "text", false, false, false, None),
    ("facebook", "Facebook", "text", false, false, false, None),
    ("instagram", "Instagram", "text", false, false, false, None),
    ("angellist", "AngelList", "text", false, false, false, None),
    (
        "foundation_date",
        "Foundation date",
        "date",
        false,
        false,
        false,
        None,
    ),
    (
        "employee_range",
        "Employee range",
        "select",
        false,
        false,
        false,
        None,
    ),
    (
        "estimated_arr_usd",
        "Estimated ARR",
        "select",
        false,
        false,
        false,
        None,
    ),
    (
        "associated_workspaces",
        "Associated workspaces",
        "record-reference",
        true,
        false,
        false,
        Some("workspaces"),
    ),
];

const USERS: &[Spec] = &[
    (
        "person",
        "Person",
        "record-reference",
        false,
        false,
        false,
        Some("people"),
    ),
    (
        "primary_email_address",
        "Primary email address",
        "email-address",
        false,
        true,
        true,
        None,
    ),
    ("user_id", "User ID", "text", false, true, true, None),
    (
        "workspace",
        "Workspace",
        "record-reference",
        true,
        false,
        false,
        Some("workspaces"),
    ),
];

const WORKSPACES: &[Spec] = &[
    (
        "workspace_id",
        "Workspace ID",
        "text",
        false,
        true,
        true,
        None,
    ),
    ("name", "Name", "text", false, false, false, None),
    (
        "users",
        "Users",
        "record-reference",
        true,
        false,
        false,
        Some("users"),
    ),
    (
        "company",
        "Company",
        "record-reference",
        false,
        false,
        false,
        Some("companies"),
    ),
    (
        "avatar_url",
        "Avatar URL",
        "text",
        false,
        false,
        false,
        None,
    ),
];

/// Relationship pairs between standard attributes: (object, attribute) <-> (object, attribute).
type End = (&'static str, &'static str);
const RELATIONSHIPS: &[(End, End)] = &[
    (("people", "company"), ("companies", "team")),
    (("users", "person"), ("people", "associated_users")),
    (("users", "workspace"), ("workspaces", "users")),
    (
        ("workspaces", "company"),
        ("companies", "associated_workspaces"),
    ),
];

const EMPLOYEE_RANGES: &[&str] = &[
    "1-10", "11-50", "51-250", "251-1K", "1K-5K", "5K-10K", "10K-50K", "50K-100K", "100K+",
];

const ARR_RANGES: &[&str] = &[
    "$0-$1M",
    "$1M-$10M",
    "$10M-$50M",
    "$50M-$100M",
    "$100M-$250M",
    "$250M-$500M",
    "$500M-$1B",
    "$1B-$10B",
    "$10B-$100B",
    "$100B+",
];

/// The `config.currency` of a non-currency attribute.
pub(crate) fn null_currency() -> Value {
    json!({"default_currency_code": null, "display_type": null})
}

/// A fresh attribute with Attio's defaults for the flags not given.
pub(crate) fn new_attribute(object_id: Uuid, slug: &str, title: &str, kind: &str) -> Attribute {
    Attribute {
        id: Uuid::new_v4(),
        object_id,
        title: title.to_string(),
        description: None,
        api_slug: slug.to_string(),
        kind: kind.to_string(),
        is_system_attribute: false,
        is_writable: true,
        is_required: false,
        is_unique: false,
        is_multiselect: false,
        default_value: Value::Null,
        relationship: None,
        created_at: now_string(),
        allowed_object_ids: Vec::new(),
        currency: null_currency(),
        options: Vec::new(),
        is_archived: false,
    }
}

pub(crate) fn seed(ws: &mut Workspace) {
    let objects: [(&str, &str, &str, &[Spec], bool); 4] = [
        ("people", "Person", "People", PEOPLE, true),
        ("companies", "Company", "Companies", COMPANIES, true),
        ("users", "User", "Users", USERS, false),
        ("workspaces", "Workspace", "Workspaces", WORKSPACES, false),
    ];
    for (slug, singular, plural, _, enabled) in &objects {
        ws.objects.push(Object {
            id: Uuid::new_v4(),
            api_slug: slug.to_string(),
            singular_noun: singular.to_string(),
            plural_noun: plural.to_string(),
            created_at: now_string(),
            enabled: *enabled,
        });
    }
    let id_of = |ws: &Workspace, slug: &str| {
        ws.objects
            .iter()
            .find(|o| o.api_slug == slug)
            .map(|o| o.id)
            .unwrap_or_default()
    };
    for (slug, _, _, specs, _) in &objects {
        let object_id = id_of(ws, slug);
        let mut record_id = new_attribute(object_id, "record_id", "Record ID", "text");
        record_id.is_system_attribute = true;
        record_id.is_writable = false;
        record_id.is_unique = true;
        ws.attributes.push(record_id);
        for (a_slug, title, kind, multi, unique, required, target) in specs.iter() {
            let mut attr = new_attribute(object_id, a_slug, title, kind);
            attr.is_system_attribute = true;
            attr.is_multiselect = *multi;
            attr.is_unique = *unique;
            attr.is_required = *required;
            if let Some(target) = target {
                attr.allowed_object_ids = vec![id_of(ws, target)];
            }
            let titles: &[&str] = match *a_slug {
                "employee_range" => EMPLOYEE_RANGES,
                "estimated_arr_usd" => ARR_RANGES,
                _ => &[],
            };
            attr.options = titles
                .iter()
                .map(|t| SelectOption {
                    id: Uuid::new_v4(),
                    title: t.to_string(),
                    is_archived: false,
                })
                .collect();
            ws.attributes.push(attr);
        }
        for (a_slug, title, kind) in [
            ("created_at", "Created at", "timestamp"),
            ("created_by", "Created by", "actor-reference"),
        ] {
            let mut attr = new_attribute(object_id, a_slug, title, kind);
            attr.is_system_attribute = true;
            attr.is_writable = false;
            ws.attributes.push(attr);
        }
    }
    for ((o1, a1), (o2, a2)) in RELATIONSHIPS {
        let (obj1, obj2) = (id_of(ws, o1), id_of(ws, o2));
        let find = |ws: &Workspace, o: Uuid, a: &str| {
            ws.attributes
                .iter()
                .position(|x| x.object_id == o && x.api_slug == a)
        };
        if let (Some(i1), Some(i2)) = (find(ws, obj1, a1), find(ws, obj2, a2)) {
            let (id1, id2) = (ws.attributes[i1].id, ws.attributes[i2].id);
            ws.attributes[i1].relationship = Some(id2);
            ws.attributes[i2].relationship = Some(id1);
        }
    }
}
