package installer

import "github.com/kardianos/service"

// platformOptions installs a systemd unit of our own (systemdUnit): the
// library's built-in one waits 120 s before a restart and does not wait for
// the network. Other Linux init systems get the library's scripts.
func platformOptions(c *service.Config) {
	c.Option["SystemdScript"] = systemdUnit
	c.Option["Restart"] = "always"
}

// systemdUnit is rendered by kardianos/service's template engine ({{Key}},
// {{if}}, {{range}}, pipes cmd and cmdEscape; see its KeyValue doc). The agent
// needs the network to reach both the directory and the hub, and restarts 5 s
// after any exit: it keeps no state, the hub tells it where to resume.
// After/Wants are written here rather than in Config.Dependencies, which the
// OpenRC backend would also read.
const systemdUnit = `[Unit]
Description={{Description}}
ConditionFileIsExecutable={{Path | cmdEscape}}
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
{{if UserName}}User={{UserName}}
{{end}}{{if WorkingDirectory}}WorkingDirectory={{WorkingDirectory | cmdEscape}}
{{end}}Restart={{Restart}}
RestartSec=5
{{range EnvVars}}{{.}}
{{end}}
[Install]
WantedBy=multi-user.target
`

// endsByExit is false: every Linux backend waits in the RunWait option, which
// Run ends when the run function returns.
const endsByExit = false

// useSystemLog is false: systemd sends a service's stderr to the journal.
const useSystemLog = false
