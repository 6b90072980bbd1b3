package agent

import (
	"context"

	"github.com/cvminit/cvminit/agent/klog"
)

// Step is one named stage of the boot.
type Step struct {
	Name string
	Run  func(ctx context.Context, s *State) error
	// Fail is the failure code when the error matches no known outcome.
	Fail klog.Code
}

// Steps returns the boot table, in order.
func Steps() []Step {
	return []Step{
		{"mounts", stepMounts, klog.CodeSetupFailed},
		{"log", stepLog, klog.CodeSetupFailed},
		{"config", stepConfig, klog.CodeConfigInvalid},
		{"memory", stepMemory, klog.CodeMemoryLow},
		{"tpm", stepTPM, klog.CodeTPMFailed},
		{"modules", stepModules, klog.CodeModulesFailed},
		{"network", stepNetwork, klog.CodeNetworkDown},
		{"attest", stepAttest, klog.CodeAttestUnavailable},
		{"key", stepKey, klog.CodeBrokerProtocol},
		{"disk", stepDisk, klog.CodeDiskNotFound},
		{"unlock", stepUnlock, klog.CodeUnlockFailed},
		{"verity", stepVerity, klog.CodeIntegrityFailed},
		{"mount", stepMount, klog.CodeMountFailed},
		{"wipe", stepWipe, klog.CodeInternal},
		{"switchroot", stepSwitchRoot, klog.CodeSwitchRootFailed},
	}
}
