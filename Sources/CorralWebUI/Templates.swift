/// The pages' Mustache templates (docs/web-ui.md). `{{x}}` HTML-escapes; `{{{x}}}` is used only
/// for `content`, HTML this module rendered from an escaping template.
enum Templates {
    static let all: [String: String] = [
        "layout": layout, "dashboard": dashboard, "volumes": volumes, "volume": volume, "nodes": nodes,
        "events": events, "eventRows": eventRows, "snapshotNode": snapshotNode, "message": message,
        "backups": backups, "recurringJobs": recurringJobs, "backingImages": backingImages, "systemBackups": systemBackups,
        "settings": settings,
    ]

    static let layout = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{title}} · Corral</title>
    <link rel="stylesheet" href="{{css}}">
    <link rel="icon" href="{{icon}}" type="image/svg+xml">
    <script type="module" src="{{js}}"></script>
    </head>
    <body>
    <a class="skip" href="#main">Skip to the content</a>
    <header>
    <p class="brand">Corral</p>
    <nav aria-label="Pages"><ul>
    {{#nav}}<li><a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a></li>
    {{/nav}}</ul></nav>
    </header>
    <main id="main" data-live="{{live}}" data-revision="{{revision}}">
    {{{content}}}
    </main>
    <footer><p>Served by the Corral manager at {{servedAt}}. The API has no authentication yet: keep the manager on loopback, or behind an authenticating proxy.</p></footer>
    </body>
    </html>

    """#

    static let dashboard = #"""
    <h1>Dashboard</h1>
    <section aria-labelledby="capacity"><h2 id="capacity">Capacity</h2>
    <table><thead><tr><th scope="col">Node</th><th scope="col">Schedulable</th><th scope="col">Reserved</th><th scope="col">Used</th><th scope="col">Disks' size</th></tr></thead>
    <tbody>{{#capacity}}<tr><th scope="row">{{node}}</th><td>{{schedulable}}</td><td>{{reserved}}</td><td>{{used}}</td><td>{{maximum}}</td></tr>
    {{/capacity}}</tbody>
    <tfoot>{{#total}}<tr><th scope="row">All nodes</th><td>{{schedulable}}</td><td>{{reserved}}</td><td>{{used}}</td><td>{{maximum}}</td></tr>{{/total}}</tfoot></table>
    </section>
    <section aria-labelledby="volumes"><h2 id="volumes">Volumes</h2>
    <ul class="counts">{{#volumesByState}}<li><a href="/ui/volumes?state={{key}}">{{key}}: <strong>{{count}}</strong></a></li>{{/volumesByState}}</ul>
    <ul class="counts">{{#volumesByRobustness}}<li><a href="/ui/volumes?robustness={{key}}" class="robustness-{{key}}">{{key}}: <strong>{{count}}</strong></a></li>{{/volumesByRobustness}}</ul>
    {{^volumesByState}}<p>No volumes yet.</p>{{/volumesByState}}
    </section>
    <section aria-labelledby="nodes"><h2 id="nodes">Nodes</h2>
    <ul class="counts">{{#nodesByState}}<li>{{key}}: <strong>{{count}}</strong></li>{{/nodesByState}}</ul>
    {{^nodesByState}}<p>No node has registered.</p>{{/nodesByState}}
    </section>
    <section aria-labelledby="backups"><h2 id="backups">Backups in progress</h2>
    {{#hasBackups}}<table><thead><tr><th scope="col">Backup</th><th scope="col">Volume</th><th scope="col">State</th><th scope="col">Progress</th></tr></thead>
    <tbody>{{#backups}}<tr><td>{{name}}</td><td><a href="/ui/volumes/{{volume}}">{{volume}}</a></td><td>{{state}}</td><td><progress max="100" value="{{progress}}" aria-label="backup {{name}}">{{progress}}%</progress> {{progress}}%</td></tr>
    {{/backups}}</tbody></table>{{/hasBackups}}
    {{^backups}}<p>None.</p>{{/backups}}
    </section>
    <section aria-labelledby="events"><h2 id="events">Recent events</h2>
    {{> eventRows}}
    <p><a href="/ui/events">All events</a></p>
    </section>

    """#

    static let eventRows = #"""
    {{#hasEvents}}<table><thead><tr><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Object</th><th scope="col">Reason</th><th scope="col">Message</th></tr></thead>
    <tbody>{{#events}}<tr class="event-{{type}}"><td><time datetime="{{time}}">{{time}}</time></td><td>{{type}}</td><td>{{object}}</td><td>{{reason}}</td><td>{{message}}</td></tr>
    {{/events}}</tbody></table>{{/hasEvents}}
    {{^events}}<p>No events.</p>{{/events}}
    """#

    static let message = #"""
    <h1>{{heading}}</h1>
    <p>{{message}}</p>

    """#

    static let events = #"""
    <h1>Events</h1>
    {{> eventRows}}

    """#

    static let volumes = #"""
    <h1>Volumes</h1>
    <form method="get" action="/ui/volumes" class="filters" role="search">
    <label>Filter <input type="search" name="q" value="{{query.filter}}" placeholder="name or label"></label>
    <label>State <select name="state"><option value="">any</option>{{#states}}<option{{#selected}} selected{{/selected}}>{{value}}</option>{{/states}}</select></label>
    <label>Robustness <select name="robustness"><option value="">any</option>{{#robustnesses}}<option{{#selected}} selected{{/selected}}>{{value}}</option>{{/robustnesses}}</select></label>
    <button type="submit">Show</button>
    </form>
    <p class="summary">{{matching}} of {{total}} volumes{{#pages.many}}, page {{page}} of {{pages.count}}{{/pages.many}}.</p>
    <table><thead><tr>{{#columns}}<th scope="col"{{#sorted}} aria-sort="{{sorted}}"{{/sorted}}><a href="{{href}}">{{label}}</a></th>{{/columns}}<th scope="col">Labels</th></tr></thead>
    <tbody>{{#rows}}<tr><td><a href="/ui/volumes/{{name}}">{{name}}</a></td><td>{{size}}</td><td>{{state}}</td><td class="robustness-{{robustness}}">{{robustness}}</td><td><time datetime="{{created}}">{{created}}</time></td><td>{{#labels}}<span class="label">{{key}}={{value}}</span> {{/labels}}</td></tr>
    {{/rows}}</tbody></table>
    <nav aria-label="Pages of volumes" class="pager">{{#previous}}<a href="{{previous}}" rel="prev">Previous page</a>{{/previous}} {{#next}}<a href="{{next}}" rel="next">Next page</a>{{/next}}</nav>
    <section aria-labelledby="create"><h2 id="create">Create a volume</h2>
    <form data-api="POST /v1/volumes" data-then="/ui/volumes/{name}">
    <label>Name <input name="name" required pattern="[a-z0-9]([\-a-z0-9.]{0,61}[a-z0-9])?"></label>
    <label>Size <input name="size" required value="1Gi" pattern="[1-9][0-9]{0,5}(Mi|Gi|Ti)"></label>
    <label>Replicas <input name="numberOfReplicas" type="number" min="1" max="20" value="3" data-type="int"></label>
    <button type="submit">Create</button>
    <p class="error" role="alert"></p>
    </form>
    </section>

    """#

    static let volume = #"""
    {{#volume}}
    <h1>Volume {{name}}</h1>
    <dl class="facts">
    <dt>State</dt><dd data-field="state">{{state}}</dd>
    <dt>Robustness</dt><dd data-field="robustness" class="robustness-{{robustness}}">{{robustness}}</dd>
    <dt>Size</dt><dd>{{size}}</dd>
    <dt>Replicas wanted</dt><dd>{{replicasWanted}}</dd>
    <dt>Attached to</dt><dd>{{#node}}{{node}}{{/node}}{{^node}}no node{{/node}}</dd>
    <dt>NBD URI</dt><dd>{{#endpoint}}<code>{{endpoint}}</code>{{/endpoint}}{{^endpoint}}none while detached{{/endpoint}}</dd>
    <dt>Labels</dt><dd>{{#labels}}<span class="label">{{key}}={{value}}</span> {{/labels}}{{^labels}}none{{/labels}}</dd>
    {{#restoring}}<dt>Restore</dt><dd><progress max="100" value="{{restoring}}" aria-label="restore of {{name}}">{{restoring}}%</progress> {{restoring}}%</dd>{{/restoring}}
    <dt>Recurring jobs</dt><dd>{{#jobs}}<a href="/ui/recurringjobs">{{name}}</a> ({{task}}, <code>{{cron}}</code>) {{/jobs}}{{^jobs}}none apply{{/jobs}}</dd>
    </dl>
    <div class="actions">
    <button data-api="POST /v1/volumes/{{name}}/snapshotBackup" data-body="{}">Back up now</button>
    {{#detached}}<button data-api="POST /v1/volumes/{{name}}/attach" data-body="{}">Attach</button>{{/detached}}
    {{#attached}}<button data-api="POST /v1/volumes/{{name}}/detach" data-body="{}">Detach</button>{{/attached}}
    <button data-api="DELETE /v1/volumes/{{name}}" data-confirm="Delete volume {{name}} and every replica and snapshot of it? Its data is gone; backups stay." data-then="/ui/volumes" class="danger">Delete volume</button>
    <p class="error" role="alert"></p>
    </div>
    <form data-api="POST /v1/volumes/{{name}}/expand" class="inline">
    <label>New size <input name="size" required placeholder="e.g. 20Gi" pattern="[1-9][0-9]{0,5}(Mi|Gi|Ti)"></label>
    <button type="submit">Expand</button>
    <p class="error" role="alert"></p>
    </form>
    <form data-api="POST /v1/volumes/{{name}}/updateReplicaCount" class="inline" data-confirm="Change the replica count of volume {{name}}? With fewer, replicas are removed with their data.">
    <label>Replicas <input name="replicaCount" type="number" min="1" max="20" value="{{replicasWanted}}" data-type="int" required></label>
    <button type="submit">Scale</button>
    <p class="error" role="alert"></p>
    </form>
    <section aria-labelledby="replicas"><h2 id="replicas">Replicas</h2>
    <table><thead><tr><th scope="col">Replica</th><th scope="col">Node</th><th scope="col">Disk</th><th scope="col">State</th><th scope="col">Rebuild</th></tr></thead>
    <tbody>{{#replicas}}<tr><td>{{name}}</td><td>{{node}}</td><td>{{disk}}</td><td data-field="replica-state">{{state}}</td><td>{{#rebuild}}<progress max="100" value="{{rebuild}}" aria-label="rebuild of {{name}}">{{rebuild}}%</progress> {{rebuild}}%{{/rebuild}}</td></tr>
    {{/replicas}}</tbody></table>
    </section>
    <section aria-labelledby="snapshots"><h2 id="snapshots">Snapshots</h2>
    {{#hasSnapshots}}<ul class="tree">{{#snapshots}}{{> snapshotNode}}{{/snapshots}}</ul>{{/hasSnapshots}}
    {{^snapshots}}<p>No snapshots.</p>{{/snapshots}}
    <form data-api="POST /v1/volumes/{{name}}/snapshotCreate">
    <label>New snapshot <input name="name" placeholder="a name, or empty for one made up"></label>
    <button type="submit">Take a snapshot</button>
    <p class="error" role="alert"></p>
    </form>
    </section>
    <section aria-labelledby="backups"><h2 id="backups">Backups</h2>
    {{#hasBackups}}<table><thead><tr><th scope="col">Backup</th><th scope="col">Snapshot</th><th scope="col">State</th><th scope="col">Progress</th></tr></thead>
    <tbody>{{#backups}}<tr><td>{{name}}</td><td>{{snapshot}}</td><td>{{state}}</td><td><progress max="100" value="{{progress}}" aria-label="backup {{name}}">{{progress}}%</progress> {{progress}}%</td></tr>
    {{/backups}}</tbody></table>{{/hasBackups}}
    {{^backups}}<p>No backups.</p>{{/backups}}
    </section>
    {{/volume}}

    """#

    static let snapshotNode = #"""
    <li><span class="snapshot">{{name}}</span>{{#backedUp}} <span class="badge">backed up</span>{{/backedUp}}{{#removed}} <span class="badge">removed</span>{{/removed}} <span class="muted">{{created}}</span>
    {{^removed}}<span class="actions"><button data-api="POST /v1/volumes/{{volume}}/snapshotBackup" data-arg-snapshot="{{name}}">Back up {{name}}</button>
    <button data-api="POST /v1/volumes/{{volume}}/snapshotRevert" data-arg-name="{{name}}" data-confirm="Revert volume {{volume}} to snapshot {{name}}? Everything written since it is lost.">Revert to {{name}}</button>
    <button data-api="POST /v1/volumes/{{volume}}/snapshotDelete" data-arg-name="{{name}}" data-confirm="Delete snapshot {{name}} of volume {{volume}}?" class="danger">Delete {{name}}</button>
    <span class="error" role="alert"></span></span>{{/removed}}{{#hasChildren}}<ul>{{#children}}{{> snapshotNode}}{{/children}}</ul>{{/hasChildren}}</li>
    """#

    static let nodes = #"""
    <h1>Nodes</h1>
    <table><thead><tr><th scope="col">Node</th><th scope="col">State</th><th scope="col">Address</th><th scope="col">Schedulable</th><th scope="col">Used</th><th scope="col">Tags</th><th scope="col">Actions</th></tr></thead>
    <tbody>{{#nodes}}<tr><th scope="row">{{name}}</th><td>{{state}}</td><td>{{address}}</td><td>{{schedulable}}</td><td>{{used}}</td><td>{{#tags}}<span class="label">{{.}}</span> {{/tags}}</td>
    <td>{{#cordoned}}<button data-api="PUT /v1/nodes/{{name}}" data-spec='{"allowScheduling": true}'>Uncordon</button>{{/cordoned}}{{^cordoned}}<button data-api="PUT /v1/nodes/{{name}}" data-spec='{"allowScheduling": false}'>Cordon</button>{{/cordoned}}
    {{^evicting}}<button data-api="PUT /v1/nodes/{{name}}" data-spec='{"evictionRequested": true}' data-confirm="Move every replica off node {{name}}? Volumes rebuild elsewhere meanwhile.">Evict</button>{{/evicting}}
    <p class="error" role="alert"></p></td></tr>
    {{/nodes}}</tbody></table>
    {{^nodes}}<p>No node has registered.</p>{{/nodes}}

    """#
}
