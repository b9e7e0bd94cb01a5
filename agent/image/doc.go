// Package image gives the node agent its container images without a
// registry: the pause image is generated inside corral (a hand-assembled
// static x86-64 ELF, so no toolchain is needed at run time), images are
// written as OCI image-layout tarballs and imported into containerd's
// "k8s.io" namespace with ctr, and unused images are garbage collected by
// disk usage through the CRI image service.
//
// Test images (busybox) are built by exported functions in testimages.go so
// that tests of other packages and the e2e tests can use them.
package image
