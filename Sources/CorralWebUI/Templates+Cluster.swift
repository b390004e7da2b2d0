/// Templates of the pages beyond volumes and nodes (see `Templates`).
extension Templates {
    static let backups = #"""
    <h1>Backups</h1>
    <section aria-labelledby="targets"><h2 id="targets">Backup targets</h2>
    <table><thead><tr><th scope="col">Target</th><th scope="col">URL</th><th scope="col">Available</th><th scope="col">Last sync</th><th scope="col">Message</th></tr></thead>
    <tbody>{{#targets}}<tr><th scope="row">{{name}}</th><td>{{url}}</td><td>{{#available}}yes{{/available}}{{^available}}no{{/available}}</td><td><time datetime="{{lastSynced}}">{{lastSynced}}</time></td><td>{{message}}</td></tr>
    {{/targets}}</tbody></table>
    <form data-api="PUT /v1/backuptargets/default">
    <label>Default target's URL <input name="url" placeholder="s3://bucket@region/path or file:///path" size="40"></label>
    <label>Credential secret <input name="credentialSecret" placeholder="for S3"></label>
    <button type="submit">Set the backup target</button>
    <p class="error" role="alert"></p>
    </form>
    </section>
    <section aria-labelledby="backupvolumes"><h2 id="backupvolumes">Backup volumes</h2>
    {{#hasBackupVolumes}}<table><thead><tr><th scope="col">Backup volume</th><th scope="col">Target</th><th scope="col">Volume</th><th scope="col">Size</th><th scope="col">Backups</th><th scope="col">Latest</th></tr></thead>
    <tbody>{{#backupVolumes}}<tr><td>{{name}}</td><td>{{target}}</td><td>{{volume}}</td><td>{{size}}</td><td>{{count}}</td><td>{{last}}</td></tr>
    {{/backupVolumes}}</tbody></table>{{/hasBackupVolumes}}
    {{^hasBackupVolumes}}<p>None yet.</p>{{/hasBackupVolumes}}
    </section>
    <section aria-labelledby="backuplist"><h2 id="backuplist">Backups</h2>
    {{#hasBackups}}<table><thead><tr><th scope="col">Backup</th><th scope="col">Volume</th><th scope="col">Snapshot</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Restore</th></tr></thead>
    <tbody>{{#backups}}<tr><td>{{name}}</td><td>{{volume}}</td><td>{{snapshot}}</td><td>{{state}}{{#error}}: {{error}}{{/error}}</td><td><progress max="100" value="{{progress}}" aria-label="backup {{name}}">{{progress}}%</progress> {{progress}}%</td>
    <td>{{#completed}}<form data-api="POST /v1/volumes" data-then="/ui/volumes/{name}"><input type="hidden" name="fromBackup" value="{{url}}"><label>As volume <input name="name" required pattern="[a-z0-9]([\-a-z0-9.]{0,61}[a-z0-9])?"></label> <label>Replicas <input name="numberOfReplicas" type="number" min="1" max="20" value="1" data-type="int"></label> <button type="submit">Restore</button><p class="error" role="alert"></p></form>{{/completed}}</td></tr>
    {{/backups}}</tbody></table>{{/hasBackups}}
    {{^hasBackups}}<p>None yet.</p>{{/hasBackups}}
    </section>

    """#

    static let recurringJobs = #"""
    <h1>Recurring jobs</h1>
    {{#hasJobs}}<table><thead><tr><th scope="col">Job</th><th scope="col">Task</th><th scope="col">Schedule</th><th scope="col">Retain</th><th scope="col">Groups</th><th scope="col">Last run</th><th scope="col">Next run</th><th scope="col">Runs (failed)</th><th scope="col">Problem</th></tr></thead>
    <tbody>{{#jobs}}<tr><th scope="row">{{name}}</th><td>{{task}}</td><td><code>{{cron}}</code></td><td>{{retain}}</td><td>{{groups}}</td><td><time datetime="{{lastRun}}">{{lastRun}}</time></td><td><time datetime="{{nextRun}}">{{nextRun}}</time></td><td>{{runs}} ({{failed}})</td><td>{{problem}}</td></tr>
    {{/jobs}}</tbody></table>{{/hasJobs}}
    {{^hasJobs}}<p>No recurring jobs. <code>corral recurring-job create</code> makes one.</p>{{/hasJobs}}

    """#

    static let backingImages = #"""
    <h1>Backing images</h1>
    {{#hasImages}}<table><thead><tr><th scope="col">Image</th><th scope="col">Source</th><th scope="col">Size</th><th scope="col">SHA-512</th><th scope="col">Copies</th><th scope="col">Message</th></tr></thead>
    <tbody>{{#images}}<tr><th scope="row">{{name}}</th><td>{{source}}</td><td>{{size}}</td><td><code>{{checksum}}</code>…</td><td><ul class="plain">{{#copies}}<li>{{disk}}: {{state}} <progress max="100" value="{{progress}}" aria-label="copy of {{name}} on {{disk}}">{{progress}}%</progress> {{progress}}%{{#message}} — {{message}}{{/message}}</li>{{/copies}}</ul></td><td>{{message}}</td></tr>
    {{/images}}</tbody></table>{{/hasImages}}
    {{^hasImages}}<p>No backing images.</p>{{/hasImages}}

    """#

    static let systemBackups = #"""
    <h1>System backups</h1>
    <section aria-labelledby="systembackups"><h2 id="systembackups">System backups</h2>
    {{#hasBackups}}<table><thead><tr><th scope="col">System backup</th><th scope="col">State</th><th scope="col">Created</th><th scope="col">Volume backups</th><th scope="col">From another cluster</th></tr></thead>
    <tbody>{{#backups}}<tr><th scope="row">{{name}}</th><td>{{state}}</td><td><time datetime="{{created}}">{{created}}</time></td><td>{{volumes}}</td><td>{{#foreign}}yes{{/foreign}}{{^foreign}}no{{/foreign}}</td></tr>
    {{/backups}}</tbody></table>{{/hasBackups}}
    {{^hasBackups}}<p>None yet.</p>{{/hasBackups}}
    </section>
    <section aria-labelledby="systemrestores"><h2 id="systemrestores">System restores</h2>
    {{#hasRestores}}<table><thead><tr><th scope="col">Restore</th><th scope="col">From</th><th scope="col">State</th><th scope="col">Items</th><th scope="col">Started</th></tr></thead>
    <tbody>{{#restores}}<tr><th scope="row">{{name}}</th><td>{{systemBackup}}</td><td>{{state}}</td><td>{{items}}</td><td><time datetime="{{started}}">{{started}}</time></td></tr>
    {{/restores}}</tbody></table>{{/hasRestores}}
    {{^hasRestores}}<p>None yet.</p>{{/hasRestores}}
    </section>

    """#

    static let settings = #"""
    <h1>Settings</h1>
    <p>A value is checked by the API when saved; a refusal is shown beside its field.</p>
    {{#settings}}<form data-api="PUT /v1/settings/{{name}}" class="setting" aria-labelledby="{{id}}" novalidate>
    <h2 id="{{id}}">{{name}}</h2>
    <p>{{description}} <span class="muted">Default: {{default}}.</span></p>
    <label>Value {{#number}}<input name="value" type="number" value="{{value}}"{{#min}} min="{{min}}"{{/min}}{{#max}} max="{{max}}"{{/max}}>{{/number}}{{^number}}<select name="value">{{#choices}}<option{{#selected}} selected{{/selected}}>{{value}}</option>{{/choices}}</select>{{/number}}</label>
    <button type="submit">Save</button>
    <p class="error" role="alert"></p>
    </form>
    {{/settings}}

    """#
}
