package control

// Container resources.
//
// A container's memory limit (CreateContainerRequest.MemoryLimit, changed
// by UpdateResources) is enforced by the sentry like a memory cgroup's:
// the memory a container's processes allocate — anonymous memory, private
// copies of file or copy-on-write pages, shared anonymous memory — is
// charged to it until freed; page cache and tmpfs contents are not (they
// count against the pod's memory only). A charge that would exceed the
// limit fails and the process that was allocating is killed with SIGKILL;
// the container's status then says so (WaitResult.OOMKilled). The pod's
// memory (its memory file) is a limit for all containers together.

// MethodUpdateResources changes a container's resources while it runs.
// Request: UpdateResourcesRequest. Lowering the memory limit below the
// current usage frees nothing: it only refuses new allocations until
// enough memory is freed. Errors: ENOENT for an unknown container.
const MethodUpdateResources = "UpdateResources"

// UpdateResourcesRequest sets a container's resources.
type UpdateResourcesRequest struct {
	ID string `json:"id"`
	// MemoryLimit is the new memory limit in bytes (0: none).
	MemoryLimit uint64 `json:"memoryLimit"`
}
