// helm-record: checks tp's Helm release records against Helm's own code (not part of the unit
// suite: it needs Go and the helm module). It is how fixtures/helm-3.22-install-secret.json was made
// (remade whenever the chart changes: ./hr write helm, then add "apiVersion" and "kind").
//
//	mkdir /tmp/hr && cd /tmp/hr && go mod init hr && cp <this file> . && go get helm.sh/helm/v3@v3.22.0 && go build -o hr .
//	./hr write <chart dir>          # Helm's install action, fake cluster: prints the release Secret(s)
//	./hr read <namespace> <release> # stdin: Secrets (JSON list) written by tp; loads them like `helm list`
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func main() {
	switch os.Args[1] {
	case "write":
		write(os.Args[2])
	case "read":
		read(os.Args[2], os.Args[3])
	}
}

// write installs the chart with logLevel=debug as release traffic-manager in tp-system.
func write(chartDir string) {
	secrets := fake.NewSimpleClientset().CoreV1().Secrets("tp-system")
	cfg := &action.Configuration{
		Releases:     storage.Init(driver.NewSecrets(secrets)),
		KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...interface{}) {},
	}
	ch, err := loader.Load(chartDir)
	check(err)
	inst := action.NewInstall(cfg)
	inst.ReleaseName = "traffic-manager"
	inst.Namespace = "tp-system"
	_, err = inst.Run(ch, map[string]interface{}{"logLevel": "debug"})
	check(err)
	list, err := secrets.List(context.Background(), metav1.ListOptions{})
	check(err)
	check(json.NewEncoder(os.Stdout).Encode(list.Items))
}

func read(namespace, name string) {
	var secrets []v1.Secret
	check(json.NewDecoder(os.Stdin).Decode(&secrets))
	client := fake.NewSimpleClientset().CoreV1().Secrets(namespace)
	for i := range secrets {
		_, err := client.Create(context.Background(), &secrets[i], metav1.CreateOptions{})
		check(err)
	}
	st := storage.Init(driver.NewSecrets(client))
	rels, err := st.ListReleases()
	check(err)
	for _, r := range rels {
		cfg, _ := json.Marshal(r.Config)
		fmt.Printf("%s v%d %s %q chart=%s-%s config=%s manifest=%dB\n", r.Name, r.Version, r.Info.Status,
			r.Info.Description, r.Chart.Metadata.Name, r.Chart.Metadata.Version, cfg, len(r.Manifest))
		check(r.Chart.Validate())
	}
	dep, err := st.Deployed(name)
	check(err)
	fmt.Printf("deployed: v%d\n", dep.Version)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
