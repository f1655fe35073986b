package installer

import "github.com/kardianos/service"

// platformOptions starts the service automatically after boot, delayed so
// that the network is up, and has the service control manager restart it 5 s
// after it fails.
func platformOptions(c *service.Config) {
	c.Option[service.StartType] = service.ServiceStartAutomatic
	c.Option["DelayedAutoStart"] = true
	c.Option[service.OnFailure] = service.OnFailureRestart
	c.Option[service.OnFailureDelayDuration] = "5s"
}

// endsByExit is true: the service control manager offers a running service
// no way to stop itself as failed, and the library waits for its stop
// request alone. A process that ends without reporting "stopped" is a
// failure, for which the manager applies the recovery action (restart).
const endsByExit = true

// useSystemLog is true: a service's stderr goes nowhere on Windows.
const useSystemLog = true
