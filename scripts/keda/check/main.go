// keda-check drives llmeter's external scaler with KEDA's own code: the `external` and
// `external-push` scalers (pkg/scalers, NewExternalScaler / NewExternalPushScaler) reached through
// KEDA's scalers cache (pkg/scaling/cache), as the operator and its metrics server reach them.
//
//	keda-check poll <scalerAddress> <trigger metadata as JSON>
//	    one line of JSON: the metric spec KEDA builds, the metric value and the activity
//	    (GetMetricSpecForScalingForScaler, then GetMetricsAndActivityForScaler), or {"error": …}
//	keda-check push <scalerAddress> <trigger metadata as JSON>
//	    one line of JSON per value the push scaler's Run delivers on its channel (StreamIsActive),
//	    {"active": bool, "at": epoch ms}, until stdin closes
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-logr/logr/funcr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kedacore/keda/v2/pkg/scalers"
	"github.com/kedacore/keda/v2/pkg/scalers/scalersconfig"
	"github.com/kedacore/keda/v2/pkg/scaling/cache"
)

func main() {
	if len(os.Args) != 4 || (os.Args[1] != "poll" && os.Args[1] != "push") {
		fmt.Fprintln(os.Stderr, "usage: keda-check poll|push <scalerAddress> <trigger metadata as JSON>")
		os.Exit(2)
	}
	// KEDA's scalers log through controller-runtime's logger: to stderr, where a test shows it.
	logf.SetLogger(funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{}))
	metadata := map[string]string{}
	if err := json.Unmarshal([]byte(os.Args[3]), &metadata); err != nil {
		fail(fmt.Errorf("trigger metadata: %w", err))
	}
	metadata["scalerAddress"] = os.Args[2]
	push := os.Args[1] == "push"
	config := scalersconfig.ScalerConfig{
		ScalableObjectName:      "llmeter-check",
		ScalableObjectNamespace: "llm",
		ScalableObjectType:      "ScaledObject",
		TriggerType:             map[bool]string{true: "external-push", false: "external"}[push],
		TriggerMetadata:         metadata,
		GlobalHTTPTimeout:       5 * time.Second,
	}
	// The cache builds a scaler again through its factory when one fails, as the operator's does.
	factory := func() (scalers.Scaler, *scalersconfig.ScalerConfig, error) {
		c := config
		if push {
			s, err := scalers.NewExternalPushScaler(&c)
			return s, &c, err
		}
		s, err := scalers.NewExternalScaler(&c)
		return s, &c, err
	}
	scaler, _, err := factory()
	if err != nil {
		fail(err)
	}
	sc := &cache.ScalersCache{Scalers: []cache.ScalerBuilder{{Scaler: scaler, ScalerConfig: config, Factory: factory}}}
	defer sc.Close(context.Background())
	if push {
		runPush(sc)
		return
	}
	poll(sc)
}

func poll(sc *cache.ScalersCache) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	specs, err := sc.GetMetricSpecForScalingForScaler(ctx, 0)
	if err != nil {
		fail(err)
	}
	name := specs[0].External.Metric.Name
	target := specs[0].External.Target
	metrics, active, _, err := sc.GetMetricsAndActivityForScaler(ctx, 0, name)
	if err != nil {
		fail(err)
	}
	out := map[string]any{"metric": name, "active": active, "targetType": string(target.Type)}
	if target.AverageValue != nil {
		out["target"] = target.AverageValue.AsApproximateFloat64()
	} else if target.Value != nil {
		out["target"] = target.Value.AsApproximateFloat64()
	}
	if len(metrics) > 0 {
		out["value"] = metrics[0].Value.AsApproximateFloat64()
	}
	emit(out)
}

func runPush(sc *cache.ScalersCache) {
	ctx, cancel := context.WithCancel(context.Background())
	// The test ends the stream by closing stdin.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	for _, ps := range sc.GetPushScalers() {
		active := make(chan bool)
		go ps.Scaler.Run(ctx, active)
		for v := range active {
			emit(map[string]any{"active": v, "at": time.Now().UnixMilli()})
		}
	}
}

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fail(err error) {
	emit(map[string]any{"error": err.Error()})
	os.Exit(1)
}
