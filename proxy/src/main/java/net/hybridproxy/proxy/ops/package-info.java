/**
 * The data plane's side of the admin API: the status it reports, what "ready" means, the uplink actions on the
 * kernel's path manager, and what a configuration reload may change. Everything here runs on the admin server's
 * work thread, never on an event loop.
 */
package net.hybridproxy.proxy.ops;
