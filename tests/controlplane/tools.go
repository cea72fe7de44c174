//go:build tools

// Keeps kube-apiserver's and kube-controller-manager's packages in the module graph for `go mod tidy`.
package main

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)
