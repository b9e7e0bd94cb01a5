//go:build !linux

package volume

import (
	"errors"

	"k8s.io/apimachinery/pkg/api/resource"
)

func mountTmpfs(string, *resource.Quantity) error {
	return errors.New("emptyDir medium Memory needs Linux")
}

func unmountUnder(string) error         { return nil }
func isMountPoint(string) (bool, error) { return false, nil }

func mountsUnder(string) ([]string, error) { return nil, nil }
