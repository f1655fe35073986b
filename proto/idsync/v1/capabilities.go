package idsyncv1

// Capabilities an agent announces in Hello. They are part of the wire
// contract: the hub sends an agent only the commands its capabilities cover,
// so a hub can serve agents a version older than itself.
const (
	// CapabilityFullImport: the agent runs StartImport of IMPORT_KIND_FULL.
	CapabilityFullImport = "full-import"
	// CapabilityCapture: the agent runs change capture (StartImport of
	// IMPORT_KIND_INCREMENTAL) and takes checkpoints during full imports.
	CapabilityCapture = "capture"
	// CapabilityRangeRetrieval: the agent reads AD multi-valued attributes
	// past the server's value limit (ranged retrieval).
	CapabilityRangeRetrieval = "range-retrieval"
	// CapabilityCertRenewal: the agent renews its client certificate over the
	// stream (RenewCertificate) before it expires.
	CapabilityCertRenewal = "cert-renewal"
	// CapabilityAuthenticate: the agent checks passwords (Authenticate).
	CapabilityAuthenticate = "authenticate"
	// CapabilityWrite: the agent writes user entries (WriteEntry).
	CapabilityWrite = "write"
)
