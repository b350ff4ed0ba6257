package resource

import "encoding/json"

// CheckNoTimestamps implements the Admin API rule that PUT and POST bodies
// must not carry create_time or update_time at the top level, inside
// "upstream", or as a key of "plugins" (spec 3.4; PATCH may). The texts are
// APISIX's, two spaces included: "the property is forbidden:  create_time",
// "... upstream.create_time", "... plugins.update_time".
func CheckNoTimestamps(raw []byte) error {
	var body struct {
		CreateTime json.RawMessage            `json:"create_time"`
		UpdateTime json.RawMessage            `json:"update_time"`
		Upstream   map[string]json.RawMessage `json:"upstream"`
		Plugins    map[string]json.RawMessage `json:"plugins"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil // not an object of that shape: Validate reports it
	}
	// Lua truthiness: present and not false (null is cjson.null, truthy).
	forbidden := func(v json.RawMessage) bool { return v != nil && string(v) != "false" }
	const msg = "the property is forbidden:  "
	for _, f := range [...]struct {
		name string
		v    json.RawMessage
	}{{"create_time", body.CreateTime}, {"update_time", body.UpdateTime}} {
		if forbidden(f.v) {
			return checkErr("/"+f.name, msg+f.name)
		}
	}
	for _, scope := range [...]struct {
		name string
		m    map[string]json.RawMessage
	}{{"upstream", body.Upstream}, {"plugins", body.Plugins}} {
		for _, f := range [...]string{"create_time", "update_time"} {
			if forbidden(scope.m[f]) {
				return checkErr("/"+scope.name+"/"+f, msg+scope.name+"."+f)
			}
		}
	}
	return nil
}
