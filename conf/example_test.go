package conf_test

import (
	"fmt"

	"github.com/portico-gw/portico/conf"
)

func ExampleParse() {
	user := []byte(`
apisix:
  node_listen:
    - ip: 127.0.0.1
      port: ${{HTTP_PORT:=8080}}
deployment:
  etcd:
    host: http://etcd.internal:2379
`)
	noEnv := func(string) (string, bool) { return "", false }
	c, err := conf.Parse("/usr/local/portico", "conf/config.yaml", user, noEnv)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.APISIX.NodeListen[0], c.Deployment.Etcd.Host, c.Deployment.Etcd.Embedded)
	fmt.Println(c.NginxConfig.ErrorLog, c.EnvVars)

	_, err = conf.Parse("/usr/local/portico", "conf/config.yaml", []byte("deployment:\n  admin:\n    admin_lisen: {port: 9181}\n"), noEnv)
	fmt.Println(err)
	// Output:
	// 127.0.0.1:8080 [http://etcd.internal:2379] false
	// /usr/local/portico/logs/error.log [HTTP_PORT]
	// conf/config.yaml: deployment.admin.admin_lisen: unknown key (did you mean "admin_listen"?)
}
