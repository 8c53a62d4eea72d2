//! Common messages (AnyValue, KeyValue, scope, resource): their JSON fields,
//! read and written. Keys are read in lowerCamelCase or as proto names.

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::de::{self, MapAccess};

use super::decode::{msg, msg_at, set_oneof, skip, Message, MsgSeed, MAX_ANY_VALUE_DEPTH};
use super::encode::{write_any_value, write_json_string, Encode, Obj};
use super::scalars::{boolean, bytes, double, int, list, string, ListSeed, OptSeed};

/// Attributes outside any AnyValue.
pub(super) fn attrs(field: &'static str) -> ListSeed<MsgSeed<KeyValue>> {
    list(field, msg())
}

impl Message for AnyValue {
    const NAME: &'static str = "AnyValue";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        depth: u8,
    ) -> Result<(), A::Error> {
        use any_value::Value;
        let value = match key {
            "stringValue" | "string_value" => map
                .next_value_seed(OptSeed(string("stringValue")))?
                .map(Value::StringValue),
            "boolValue" | "bool_value" => map
                .next_value_seed(OptSeed(boolean("boolValue")))?
                .map(Value::BoolValue),
            "intValue" | "int_value" => map
                .next_value_seed(OptSeed(int("intValue")))?
                .map(Value::IntValue),
            "doubleValue" | "double_value" => map
                .next_value_seed(OptSeed(double("doubleValue")))?
                .map(Value::DoubleValue),
            "bytesValue" | "bytes_value" => map
                .next_value_seed(OptSeed(bytes("bytesValue")))?
                .map(Value::BytesValue),
            "stringValueStrindex" | "string_value_strindex" => map
                .next_value_seed(OptSeed(int("stringValueStrindex")))?
                .map(Value::StringValueStrindex),
            "arrayValue" | "array_value" => map
                .next_value_seed(OptSeed(msg_at(nested(depth)?)))?
                .map(Value::ArrayValue),
            "kvlistValue" | "kvlist_value" => map
                .next_value_seed(OptSeed(msg_at(nested(depth)?)))?
                .map(Value::KvlistValue),
            _ => return skip(map),
        };
        set_oneof(&mut self.value, value, "AnyValue")
    }
}

/// The depth inside one more AnyValue container, if still allowed.
fn nested<E: de::Error>(depth: u8) -> Result<u8, E> {
    if depth >= MAX_ANY_VALUE_DEPTH {
        return Err(E::custom(format_args!(
            "AnyValue nested deeper than {MAX_ANY_VALUE_DEPTH} levels"
        )));
    }
    Ok(depth + 1)
}

impl Message for ArrayValue {
    const NAME: &'static str = "ArrayValue";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        depth: u8,
    ) -> Result<(), A::Error> {
        match key {
            "values" => self.values = map.next_value_seed(list("values", msg_at(depth)))?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for KeyValueList {
    const NAME: &'static str = "KeyValueList";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        depth: u8,
    ) -> Result<(), A::Error> {
        match key {
            "values" => self.values = map.next_value_seed(list("values", msg_at(depth)))?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for KeyValue {
    const NAME: &'static str = "KeyValue";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        depth: u8,
    ) -> Result<(), A::Error> {
        match key {
            "key" => self.key = map.next_value_seed(string("key"))?,
            "value" => self.value = map.next_value_seed(OptSeed(msg_at(depth)))?,
            "keyStrindex" | "key_strindex" => {
                self.key_strindex = map.next_value_seed(int("keyStrindex"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for InstrumentationScope {
    const NAME: &'static str = "InstrumentationScope";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "name" => self.name = map.next_value_seed(string("name"))?,
            "version" => self.version = map.next_value_seed(string("version"))?,
            "attributes" => self.attributes = map.next_value_seed(attrs("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count =
                    map.next_value_seed(int("droppedAttributesCount"))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for EntityRef {
    const NAME: &'static str = "EntityRef";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "schemaUrl" | "schema_url" => {
                self.schema_url = map.next_value_seed(string("schemaUrl"))?
            }
            "type" => self.r#type = map.next_value_seed(string("type"))?,
            "idKeys" | "id_keys" => {
                self.id_keys = map.next_value_seed(list("idKeys", string("idKeys")))?
            }
            "descriptionKeys" | "description_keys" => {
                self.description_keys =
                    map.next_value_seed(list("descriptionKeys", string("descriptionKeys")))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Message for Resource {
    const NAME: &'static str = "Resource";

    fn field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
        _: u8,
    ) -> Result<(), A::Error> {
        match key {
            "attributes" => self.attributes = map.next_value_seed(attrs("attributes"))?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                self.dropped_attributes_count =
                    map.next_value_seed(int("droppedAttributesCount"))?
            }
            "entityRefs" | "entity_refs" => {
                self.entity_refs = map.next_value_seed(list("entityRefs", msg()))?
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

impl Encode for AnyValue {
    fn encode(&self, out: &mut Vec<u8>) {
        write_any_value(self, out);
    }
}

impl Encode for ArrayValue {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("values", &self.values);
        o.end();
    }
}

impl Encode for KeyValueList {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("values", &self.values);
        o.end();
    }
}

impl Encode for KeyValue {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.string("key", &self.key);
        o.msg("value", self.value.as_ref());
        o.int("keyStrindex", self.key_strindex);
        o.end();
    }
}

impl Encode for InstrumentationScope {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.string("name", &self.name);
        o.string("version", &self.version);
        o.list("attributes", &self.attributes);
        o.int("droppedAttributesCount", self.dropped_attributes_count);
        o.end();
    }
}

impl Encode for EntityRef {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.string("schemaUrl", &self.schema_url);
        o.string("type", &self.r#type);
        o.list_with("idKeys", &self.id_keys, |s, out| write_json_string(s, out));
        o.list_with("descriptionKeys", &self.description_keys, |s, out| {
            write_json_string(s, out)
        });
        o.end();
    }
}

impl Encode for Resource {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut o = Obj::new(out);
        o.list("attributes", &self.attributes);
        o.int("droppedAttributesCount", self.dropped_attributes_count);
        o.list("entityRefs", &self.entity_refs);
        o.end();
    }
}
